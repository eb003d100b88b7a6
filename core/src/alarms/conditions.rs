//! Condition detection: turns readings, ECG events, NEWS2 scores and the
//! passing of time into condition episodes (`Started` / `Ended`). Pure and
//! deterministic: the same inputs and times give the same episodes, so a
//! replayed recording raises the same alarms.
//!
//! What keeps alarms worth a nurse's attention (alarm fatigue is the known
//! failure of bedside monitoring: Sendelbach & Funk, AACN Adv Crit Care 2013):
//! - a limit violation must persist for the vital's delay before it starts
//!   (IEC 60601-1-8 "alarm condition delay"); artefacts of a few seconds never
//!   alarm;
//! - it ends only when the value is back inside the limit by a hysteresis
//!   margin for the same delay, so a value hovering at the limit gives one
//!   episode, not a burst;
//! - NEWS2 alarms fire when a higher response band holds for `news2_delay`,
//!   not on every recompute, and a band ends two points below its threshold;
//! - AF alarms are one-shot events at onset and at termination.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use wardwatch_score::ecg::rhythm::FindingKind;

use crate::model::Vital;

/// Alarm priority (IEC 60601-1-8): high ***, medium **, low *; technical
/// conditions (INOP) are kept apart from patient alarms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Technical,
    Low,
    Medium,
    High,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Medium => "medium",
            Priority::Low => "low",
            Priority::Technical => "technical",
        }
    }

    pub fn parse(s: &str) -> Option<Priority> {
        Some(match s {
            "high" => Priority::High,
            "medium" => Priority::Medium,
            "low" => Priority::Low,
            "technical" => Priority::Technical,
            _ => return None,
        })
    }

    /// The IEC 60601-1-8 marker shown before the message.
    pub fn marker(self) -> &'static str {
        match self {
            Priority::High => "***",
            Priority::Medium => "**",
            Priority::Low => "*",
            Priority::Technical => "INOP",
        }
    }
}

impl std::fmt::Display for Priority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Low and high limits of one vital.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limit {
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub priority: Priority,
    /// How long a violation must last before it alarms.
    #[serde(with = "seconds")]
    pub delay: Duration,
    /// How far inside the limit a value must come back to end the episode.
    pub hysteresis: f64,
}

mod seconds {
    use chrono::Duration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(d.num_seconds())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::seconds(i64::deserialize(d)?))
    }
}

/// The ward's alarm rules. Defaults follow common adult ward monitor
/// defaults; `spo2_scale2_low` applies to patients on NEWS2 SpO2 scale 2
/// (target 88–92 %), whose usual saturation would otherwise alarm all day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    pub hr: Limit,
    pub spo2: Limit,
    pub spo2_scale2_low: f64,
    pub rr: Limit,
    pub sbp: Limit,
    pub temp: Limit,
    /// A NEWS2 response band must hold this long before it alarms (default
    /// 5 min). NEWS2 is an observation-set score charted hourly at most; on
    /// continuous data a band touched for a few minutes is noise, and a
    /// five-minute hold still answers far sooner than an observation round.
    #[serde(with = "seconds")]
    pub news2_delay: Duration,
    /// Signal lost this long (sensor off) is a technical condition.
    #[serde(with = "seconds")]
    pub signal_lost_after: Duration,
    /// No data at all from a patient who had data, for this long: stalled.
    #[serde(with = "seconds")]
    pub stalled_after: Duration,
    /// An unacknowledged alarm is notified again this often.
    #[serde(with = "seconds")]
    pub reminder_every: Duration,
    /// An unacknowledged high or medium alarm escalates after this long.
    #[serde(with = "seconds")]
    pub escalate_after: Duration,
    /// Who an escalation goes to (a role or a named person).
    pub escalate_to: String,
}

impl Rules {
    /// The limit that applies to `vital` for a patient with `patient`'s
    /// limits: the ward's, moved by the patient's SpO2 scale and baseline
    /// SBP, then by each side a clinician set for this patient. A side the
    /// clinician did not set keeps the ward's (issue 9: setting one side
    /// must never drop the other).
    pub fn limit_for(&self, vital: Vital, patient: &PatientLimits) -> Option<Limit> {
        let mut limit = match vital {
            Vital::HeartRate => self.hr,
            Vital::Spo2 => self.spo2,
            Vital::RespRate => self.rr,
            Vital::SystolicBp => self.sbp,
            Vital::TemperatureC => self.temp,
            _ => return None,
        };
        if vital == Vital::Spo2 && patient.spo2_scale2 {
            limit.low = Some(self.spo2_scale2_low);
        }
        if let (Vital::SystolicBp, Some(base), Some(low)) = (vital, patient.baseline_sbp, limit.low)
        {
            limit.low = Some(low.min((base - 15.0).max(80.0)));
        }
        if let Some(Some((low, high))) = patient.overrides.get(vital.code() as usize) {
            limit.low = low.or(limit.low);
            limit.high = high.or(limit.high);
        }
        Some(limit)
    }
}

/// The condition key of a vital's limit alarm on one side (`hr_low`, …).
fn limit_key(vital: Vital, low: bool) -> &'static str {
    match (vital, low) {
        (Vital::HeartRate, true) => "hr_low",
        (Vital::HeartRate, false) => "hr_high",
        (Vital::RespRate, true) => "rr_low",
        (Vital::RespRate, false) => "rr_high",
        (Vital::Spo2, true) => "spo2_low",
        (Vital::Spo2, false) => "spo2_high",
        (Vital::SystolicBp, true) => "sbp_low",
        (Vital::SystolicBp, false) => "sbp_high",
        (Vital::DiastolicBp, true) => "dbp_low",
        (Vital::DiastolicBp, false) => "dbp_high",
        (Vital::TemperatureC, true) => "temp_low",
        (Vital::TemperatureC, false) => "temp_high",
        (Vital::Consciousness, true) => "acvpu_low",
        (Vital::Consciousness, false) => "acvpu_high",
        (Vital::O2FlowLpm, true) => "o2_low",
        (Vital::O2FlowLpm, false) => "o2_high",
    }
}

/// The range a ward limit of each vital may take: wide enough for every
/// ward (neonatal, cardiac, respiratory), narrow enough that a typo (a
/// misplaced digit, Fahrenheit for Celsius) is refused at the keyboard
/// rather than silencing or flooding the ward.
const LIMIT_RANGES: [(&str, f64, f64); 5] = [
    ("hr", 20.0, 300.0),
    ("spo2", 50.0, 100.0),
    ("rr", 3.0, 80.0),
    ("sbp", 40.0, 300.0),
    ("temp", 30.0, 43.0),
];

impl Rules {
    /// Checks that the rules make sense on a ward: each limit inside its
    /// vital's plausible range, low below high, delays from 0 to 5 minutes
    /// (IEC 60601-1-8 allows delays; longer ones hide real deterioration),
    /// a non-negative hysteresis smaller than the gap between the limits,
    /// timers that are positive, and someone to escalate to. The message
    /// names the field and what it must be.
    pub fn check(&self) -> std::result::Result<(), String> {
        let limits = [&self.hr, &self.spo2, &self.rr, &self.sbp, &self.temp];
        for ((name, min, max), limit) in LIMIT_RANGES.iter().zip(limits) {
            for (side, value) in [("low", limit.low), ("high", limit.high)] {
                if let Some(v) = value
                    && !(v.is_finite() && (*min..=*max).contains(&v))
                {
                    return Err(format!(
                        "{name}.{side} must be from {min} to {max}, not {v}"
                    ));
                }
            }
            if let (Some(low), Some(high)) = (limit.low, limit.high)
                && low >= high
            {
                return Err(format!(
                    "{name}.low ({low}) must be below {name}.high ({high})"
                ));
            }
            if !(0..=300).contains(&limit.delay.num_seconds()) {
                return Err(format!("{name}.delay must be from 0 to 300 seconds"));
            }
            let gap = match (limit.low, limit.high) {
                (Some(low), Some(high)) => high - low,
                _ => f64::INFINITY,
            };
            if !(limit.hysteresis.is_finite() && limit.hysteresis >= 0.0 && limit.hysteresis < gap)
            {
                return Err(format!(
                    "{name}.hysteresis must be at least 0 and below the gap between the limits"
                ));
            }
            if limit.priority == Priority::Technical {
                return Err(format!("{name}.priority must be high, medium or low"));
            }
        }
        if !(self.spo2_scale2_low.is_finite() && (50.0..=100.0).contains(&self.spo2_scale2_low)) {
            return Err("spo2_scale2_low must be from 50 to 100".into());
        }
        for (name, d) in [
            ("news2_delay", self.news2_delay),
            ("signal_lost_after", self.signal_lost_after),
            ("stalled_after", self.stalled_after),
            ("reminder_every", self.reminder_every),
            ("escalate_after", self.escalate_after),
        ] {
            if !(1..=3600).contains(&d.num_seconds()) {
                return Err(format!("{name} must be from 1 to 3600 seconds"));
            }
        }
        if self.escalate_to.trim().is_empty() || self.escalate_to.chars().count() > 100 {
            return Err("escalate_to must name a role or a person (1 to 100 characters)".into());
        }
        Ok(())
    }
}

impl Default for Rules {
    fn default() -> Self {
        let limit = |low, high, priority, delay_s, hysteresis| Limit {
            low,
            high,
            priority,
            delay: Duration::seconds(delay_s),
            hysteresis,
        };
        Rules {
            hr: limit(Some(40.0), Some(130.0), Priority::Medium, 10, 5.0),
            spo2: limit(Some(90.0), None, Priority::Medium, 15, 2.0),
            spo2_scale2_low: 85.0,
            rr: limit(Some(8.0), Some(30.0), Priority::Medium, 30, 2.0),
            // 30 s: an arterial line's pressure must stay low; an intermittent
            // cuff reading waits for the next measurement to confirm it.
            sbp: limit(Some(90.0), Some(200.0), Priority::Medium, 30, 5.0),
            temp: limit(Some(35.0), Some(39.0), Priority::Low, 0, 0.3),
            news2_delay: Duration::minutes(5),
            signal_lost_after: Duration::seconds(15),
            stalled_after: Duration::seconds(60),
            reminder_every: Duration::minutes(5),
            escalate_after: Duration::minutes(3),
            escalate_to: "charge nurse".into(),
        }
    }
}

/// What the tracker consumes.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A numeric sample; `None` is signal loss.
    Reading {
        mrn: String,
        vital: Vital,
        value: Option<f64>,
        at: DateTime<Utc>,
    },
    /// An ECG analyser event (`onset` false = the condition ended).
    Ecg {
        mrn: String,
        kind: FindingKind,
        onset: bool,
        at: DateTime<Utc>,
        detail: String,
    },
    /// A life-threatening ECG finding the pulse or another lead
    /// contradicted: a technical "ECG artefact" condition (with the
    /// decision's text, `detail`), not the finding's alarm.
    EcgSuppressed {
        mrn: String,
        kind: FindingKind,
        at: DateTime<Utc>,
        detail: String,
    },
    /// ECG arrived for the patient (samples or not): their stream is alive,
    /// whatever its content says.
    EcgAlive { mrn: String, at: DateTime<Utc> },
    /// A new NEWS2 result.
    News2 {
        mrn: String,
        aggregate: u8,
        red_score: bool,
        at: DateTime<Utc>,
    },
    /// Time passes (drives stall detection).
    Tick { now: DateTime<Utc> },
}

impl Input {
    /// The time the input is of (its data's, or the tick's).
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Input::Reading { at, .. }
            | Input::Ecg { at, .. }
            | Input::EcgSuppressed { at, .. }
            | Input::EcgAlive { at, .. }
            | Input::News2 { at, .. } => *at,
            Input::Tick { now } => *now,
        }
    }
}

/// A condition episode starting or ending.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConditionEvent {
    pub mrn: Option<String>,
    /// Stable condition key, e.g. `hr_high`, `asystole`, `tech:sensor_off`.
    pub key: String,
    pub started: bool,
    pub priority: Priority,
    /// Latched alarms stay active after the condition ends until acknowledged.
    pub latched: bool,
    /// "HR 134 > 130" — parameter, value, limit.
    pub message: String,
    pub at: DateTime<Utc>,
}

/// Per-patient overrides of the ward's limits (set by a clinician).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PatientLimits {
    pub spo2_scale2: bool,
    /// The patient's usual systolic pressure from the record: a heart-failure
    /// patient living at 95 mmHg would otherwise alarm all day at the ward's
    /// 90. The low limit follows it down to `baseline − 15`, never below 80.
    pub baseline_sbp: Option<f64>,
    /// A clinician's own limits per vital code: each side `None` keeps the
    /// ward's limit on that side.
    pub overrides: [Option<(Option<f64>, Option<f64>)>; 9],
}

impl PatientLimits {
    pub const NONE: PatientLimits = PatientLimits {
        spo2_scale2: false,
        baseline_sbp: None,
        overrides: [None; 9],
    };
}

#[derive(Debug, Default)]
struct Debounce {
    active: bool,
    /// Since when the condition has held (not yet alarmed) or has been clear
    /// (alarm active, waiting to end).
    since: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
struct PatientTrack {
    /// By condition key (`limit_key`).
    limits: HashMap<&'static str, Debounce>,
    /// Since when each sensor has reported no signal.
    lost_since: HashMap<&'static str, DateTime<Utc>>,
    /// Sensors lost long enough to count; one `tech:sensor_off` condition
    /// covers them all, so a disconnected monitor is one alarm, not five.
    lost: std::collections::BTreeSet<&'static str>,
    last_data: Option<DateTime<Utc>>,
    stalled: bool,
    news2_level: u8,
    /// A band the score moved to, and since when (see `Rules::news2_delay`).
    news2_candidate: Option<(u8, u8, DateTime<Utc>)>,
    /// Patient conditions currently started, by key, with their priority.
    active: HashMap<String, Priority>,
    /// Life-threatening findings suppressed by the pulse; one
    /// `tech:ecg_artefact` condition covers them.
    suppressed: std::collections::BTreeSet<FindingKind>,
    /// ECG findings that began while a higher condition of the patient was
    /// active (a ventricular rhythm during an extreme bradycardia): the
    /// analyser reports an onset once, so the finding waits here and starts
    /// when no higher condition is left, unless it ended first.
    held: std::collections::BTreeMap<FindingKind, HeldOnset>,
}

/// An ECG finding's onset held back under a higher condition.
#[derive(Debug, Clone)]
struct HeldOnset {
    key: &'static str,
    priority: Priority,
    latched: bool,
    message: String,
}

impl PatientTrack {
    fn sensor_lost(
        &mut self,
        mrn: &str,
        sensor: &'static str,
        at: DateTime<Utc>,
    ) -> Vec<ConditionEvent> {
        let first = self.lost.is_empty();
        if !self.lost.insert(sensor) || !first {
            return Vec::new();
        }
        let msg = format!("sensor off: no {sensor} signal (check the sensor and leads)");
        vec![event(
            mrn,
            "tech:sensor_off",
            true,
            Priority::Technical,
            false,
            msg,
            at,
        )]
    }

    fn sensor_back(
        &mut self,
        mrn: &str,
        sensor: &'static str,
        at: DateTime<Utc>,
    ) -> Vec<ConditionEvent> {
        if !self.lost.remove(sensor) || !self.lost.is_empty() {
            return Vec::new();
        }
        vec![event(
            mrn,
            "tech:sensor_off",
            false,
            Priority::Technical,
            false,
            "signals back".into(),
            at,
        )]
    }

    /// A finding suppressed by the bed's other signals: the technical
    /// condition starts with the first one.
    fn suppress(
        &mut self,
        mrn: &str,
        kind: FindingKind,
        detail: &str,
        at: DateTime<Utc>,
    ) -> Vec<ConditionEvent> {
        let first = self.suppressed.is_empty();
        if !self.suppressed.insert(kind) || !first {
            return Vec::new();
        }
        vec![event(
            mrn,
            ECG_ARTEFACT,
            true,
            Priority::Technical,
            false,
            format!("ECG artefact: {detail}"),
            at,
        )]
    }

    /// A suppressed finding was confirmed after all, or ended: the
    /// technical condition ends with the last one.
    fn unsuppress(
        &mut self,
        mrn: &str,
        kind: FindingKind,
        why: &str,
        at: DateTime<Utc>,
    ) -> Vec<ConditionEvent> {
        if !self.suppressed.remove(&kind) || !self.suppressed.is_empty() {
            return Vec::new();
        }
        vec![event(
            mrn,
            ECG_ARTEFACT,
            false,
            Priority::Technical,
            false,
            why.to_owned(),
            at,
        )]
    }

    /// Only the highest-priority condition of a patient needs a nurse's
    /// attention (IEC 60601-1-8 lets a monitor annunciate just the highest):
    /// while one is active, lower-priority patient conditions wait.
    fn may_start(&self, priority: Priority) -> bool {
        priority == Priority::Technical
            || self
                .active
                .values()
                .all(|p| *p <= priority || *p == Priority::Technical)
    }
}

/// The technical condition of a life-threatening ECG finding that the
/// pulse contradicted.
pub const ECG_ARTEFACT: &str = "tech:ecg_artefact";

/// The condition detector for a ward.
#[derive(Debug, Default)]
pub struct ConditionTracker {
    rules: Rules,
    patients: HashMap<String, PatientTrack>,
    limits: HashMap<String, PatientLimits>,
    /// No patient has had data for `stalled_after` (`tech:no_data`).
    all_stalled: bool,
    /// The patients with an ECG finding held back (`PatientTrack::held`):
    /// looked at after every input, so they start as soon as they may.
    held: std::collections::BTreeSet<String>,
}

fn fmt_value(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

impl ConditionTracker {
    pub fn new(rules: Rules) -> ConditionTracker {
        ConditionTracker {
            rules,
            ..Default::default()
        }
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Replaces the ward's rules (an admin changed them): readings from now
    /// on are judged by the new limits; an episode under way ends or goes on
    /// by them at its next reading.
    pub fn set_rules(&mut self, rules: Rules) {
        self.rules = rules;
    }

    /// Sets a patient's limits (scale-2 SpO2 target, clinician overrides).
    pub fn set_patient_limits(&mut self, mrn: &str, limits: PatientLimits) {
        self.limits.insert(mrn.to_owned(), limits);
    }

    /// The patient's track, made on their first input (the MRN copied
    /// only then: every reading of every patient comes here).
    fn track(&mut self, mrn: &str) -> &mut PatientTrack {
        if !self.patients.contains_key(mrn) {
            self.patients
                .insert(mrn.to_owned(), PatientTrack::default());
        }
        self.patients.get_mut(mrn).expect("inserted above")
    }

    fn limit_for(&self, mrn: &str, vital: Vital) -> Option<Limit> {
        self.rules
            .limit_for(vital, self.limits.get(mrn).unwrap_or(&PatientLimits::NONE))
    }

    /// Consumes one input; returns the episodes it started or ended.
    pub fn observe(&mut self, input: &Input) -> Vec<ConditionEvent> {
        let mut events = self.dispatch(input);
        self.note_active(&events);
        if !self.held.is_empty() {
            events.extend(self.start_held(input.at()));
        }
        events
    }

    fn note_active(&mut self, events: &[ConditionEvent]) {
        for e in events {
            if let Some(track) = e.mrn.as_ref().and_then(|m| self.patients.get_mut(m)) {
                if e.started {
                    track.active.insert(e.key.clone(), e.priority);
                } else {
                    track.active.remove(&e.key);
                }
            }
        }
    }

    /// Starts the held ECG findings no higher condition holds back any
    /// longer (their patient's higher alarm ended).
    fn start_held(&mut self, now: DateTime<Utc>) -> Vec<ConditionEvent> {
        let mut out = Vec::new();
        let mut done = Vec::new();
        for mrn in &self.held {
            let Some(track) = self.patients.get_mut(mrn) else {
                done.push(mrn.clone());
                continue;
            };
            let ready: Vec<FindingKind> = track
                .held
                .iter()
                .filter(|(_, h)| track.may_start(h.priority))
                .map(|(k, _)| *k)
                .collect();
            for kind in ready {
                if let Some(h) = track.held.remove(&kind) {
                    track.active.insert(h.key.to_owned(), h.priority);
                    out.push(event(
                        mrn,
                        h.key,
                        true,
                        h.priority,
                        h.latched,
                        format!("{} (began during a higher alarm)", h.message),
                        now,
                    ));
                }
            }
            if track.held.is_empty() {
                done.push(mrn.clone());
            }
        }
        for mrn in done {
            self.held.remove(&mrn);
        }
        out
    }

    fn dispatch(&mut self, input: &Input) -> Vec<ConditionEvent> {
        match input {
            Input::Reading {
                mrn,
                vital,
                value,
                at,
            } => self.reading(mrn, *vital, *value, *at),
            Input::Ecg {
                mrn,
                kind,
                onset,
                at,
                detail,
            } => self.ecg(mrn, *kind, *onset, *at, detail),
            Input::News2 {
                mrn,
                aggregate,
                red_score,
                at,
            } => self.news2(mrn, *aggregate, *red_score, *at),
            Input::EcgSuppressed {
                mrn,
                kind,
                at,
                detail,
            } => {
                let track = self.track(mrn);
                track.last_data = Some(track.last_data.map_or(*at, |t| t.max(*at)));
                track.suppress(mrn, *kind, detail, *at)
            }
            Input::EcgAlive { mrn, at } => self.alive(mrn, *at),
            Input::Tick { now } => self.tick(*now),
        }
    }

    /// Data arrived for `mrn`: the stream is not stalled.
    fn alive(&mut self, mrn: &str, at: DateTime<Utc>) -> Vec<ConditionEvent> {
        let track = self.track(mrn);
        track.last_data = Some(track.last_data.map_or(at, |t| t.max(at)));
        if !track.stalled {
            return Vec::new();
        }
        track.stalled = false;
        vec![event(
            mrn,
            "tech:stream_stalled",
            false,
            Priority::Technical,
            false,
            "data flowing again".into(),
            at,
        )]
    }

    fn reading(
        &mut self,
        mrn: &str,
        vital: Vital,
        value: Option<f64>,
        at: DateTime<Utc>,
    ) -> Vec<ConditionEvent> {
        let mut out = self.alive(mrn, at);
        let limit = self.limit_for(mrn, vital);
        let signal_lost_after = self.rules.signal_lost_after;
        let track = self.track(mrn);
        let sensor = vital.label();
        let Some(value) = value else {
            // A monitor shows HR 0 in asystole: that is the asystole alarm
            // already raised from the ECG, not a sensor off.
            let explained = vital == Vital::HeartRate && track.active.contains_key("asystole");
            if matches!(vital, Vital::HeartRate | Vital::Spo2 | Vital::RespRate) && !explained {
                let since = *track.lost_since.entry(sensor).or_insert(at);
                if at - since >= signal_lost_after {
                    out.extend(track.sensor_lost(mrn, sensor, at));
                }
            }
            return out;
        };
        track.lost_since.remove(sensor);
        out.extend(track.sensor_back(mrn, sensor, at));
        let Some(limit) = limit else {
            return out;
        };
        let name = vital.label();
        let may_start = track.may_start(limit.priority);
        let sides = [
            (
                "low",
                limit.low.filter(|l| value < *l),
                limit.low.map(|l| value >= l + limit.hysteresis),
            ),
            (
                "high",
                limit.high.filter(|h| value > *h),
                limit.high.map(|h| value <= h - limit.hysteresis),
            ),
        ];
        for (side, violated_limit, back_inside) in sides {
            let key = limit_key(vital, side == "low");
            let d = track.limits.entry(key).or_default();
            if !d.active {
                match violated_limit {
                    Some(l) => {
                        let since = *d.since.get_or_insert(at);
                        if at - since >= limit.delay && may_start {
                            d.active = true;
                            d.since = None;
                            let op = if side == "low" { "<" } else { ">" };
                            let msg = format!("{name} {} {op} {}", fmt_value(value), fmt_value(l));
                            out.push(event(mrn, key, true, limit.priority, false, msg, at));
                        }
                    }
                    None => d.since = None,
                }
            } else if back_inside.unwrap_or(true) {
                let since = *d.since.get_or_insert(at);
                if at - since >= limit.delay {
                    d.active = false;
                    d.since = None;
                    let msg = format!("{name} {} back within limits", fmt_value(value));
                    out.push(event(mrn, key, false, limit.priority, false, msg, at));
                }
            } else {
                d.since = None;
            }
        }
        out
    }

    fn ecg(
        &mut self,
        mrn: &str,
        kind: FindingKind,
        onset: bool,
        at: DateTime<Utc>,
        detail: &str,
    ) -> Vec<ConditionEvent> {
        let track = self.track(mrn);
        track.last_data = Some(track.last_data.map_or(at, |t| t.max(at)));
        // A suppressed finding confirmed after all (its alarm follows) or
        // ended ends its technical condition.
        let why = if onset {
            "the pulse no longer contradicts the ECG"
        } else {
            "ECG finding ended"
        };
        let mut out = track.unsuppress(mrn, kind, why, at);
        let (key, priority, latched, name) = match kind {
            // PhysioNet/CinC 2015 life-threatening arrhythmias: high, latched.
            FindingKind::Asystole => ("asystole", Priority::High, true, "ASYSTOLE"),
            FindingKind::ExtremeBradycardia => (
                "extreme_bradycardia",
                Priority::High,
                true,
                "EXTREME BRADYCARDIA",
            ),
            FindingKind::ExtremeTachycardia => (
                "extreme_tachycardia",
                Priority::High,
                true,
                "EXTREME TACHYCARDIA",
            ),
            FindingKind::VentricularFibrillation => (
                "ventricular_fibrillation",
                Priority::High,
                true,
                "VFIB/VFLUTTER",
            ),
            FindingKind::VentricularTachycardia => {
                ("ventricular_tachycardia", Priority::High, true, "VTACH")
            }
            // An idioventricular rhythm: medium, and it clears when the
            // rhythm ends (a slow ventricular focus is not a cardiac arrest,
            // but the nurse should look).
            FindingKind::VentricularRhythm => {
                ("ventricular_rhythm", Priority::Medium, false, "VENT RHYTHM")
            }
            FindingKind::AtrialFibrillation | FindingKind::AtrialFlutter => {
                // One-shot events at onset and at termination only.
                let (key, priority, text) = match (kind, onset) {
                    (FindingKind::AtrialFibrillation, true) => {
                        ("af_onset", Priority::Medium, "AF onset")
                    }
                    (FindingKind::AtrialFibrillation, false) => {
                        ("af_termination", Priority::Low, "AF terminated")
                    }
                    (_, true) => ("aflutter_onset", Priority::Medium, "Atrial flutter onset"),
                    (_, false) => (
                        "aflutter_termination",
                        Priority::Low,
                        "Atrial flutter terminated",
                    ),
                };
                // Not held back under a higher alarm: a one-shot event could
                // never be raised later, and AF with a fast rate is exactly
                // when the onset matters.
                let msg = if detail.is_empty() {
                    text.to_owned()
                } else {
                    format!("{text}: {detail}")
                };
                return vec![
                    event(mrn, key, true, priority, true, msg, at),
                    event(mrn, key, false, priority, true, String::new(), at),
                ];
            }
            FindingKind::EcgSignalUnusable => {
                return if onset {
                    track.sensor_lost(mrn, "ECG", at)
                } else {
                    track.sensor_back(mrn, "ECG", at)
                };
            }
        };
        let msg = if onset && !detail.is_empty() {
            format!("{name}: {detail}")
        } else {
            name.to_owned()
        };
        if !onset {
            // A held finding that ended before it could start is gone.
            track.held.remove(&kind);
        } else if !track.may_start(priority) {
            track.held.insert(
                kind,
                HeldOnset {
                    key,
                    priority,
                    latched,
                    message: msg,
                },
            );
            self.held.insert(mrn.to_owned());
            return out;
        }
        if onset {
            // The rate alarm supersedes a heart-rate limit alarm already
            // raised for the same episode: end it (and keep it from coming
            // back while the higher one is active) so the nurse sees one.
            for limit_key in ["hr_high", "hr_low"] {
                if let Some(d) = track.limits.get_mut(limit_key)
                    && d.active
                {
                    d.active = false;
                    d.since = None;
                    out.push(event(
                        mrn,
                        limit_key,
                        false,
                        Priority::Medium,
                        false,
                        format!("superseded by {name}"),
                        at,
                    ));
                }
            }
        }
        out.push(event(mrn, key, onset, priority, latched, msg, at));
        out
    }

    fn news2(
        &mut self,
        mrn: &str,
        aggregate: u8,
        red_score: bool,
        at: DateTime<Utc>,
    ) -> Vec<ConditionEvent> {
        // RCP 2017 clinical response: ≥7 emergency (high), 5–6 urgent
        // (medium), a 3 in one parameter low-medium (low).
        let level = match (aggregate, red_score) {
            (7.., _) => 3,
            (5..=6, _) => 2,
            (_, true) => 1,
            _ => 0,
        };
        let delay = self.rules.news2_delay;
        let track = self.track(mrn);
        // Hysteresis: an urgent or emergency band ends only when the score is
        // two points below its threshold, so 5, 4, 5, 4 is one episode.
        let threshold = match track.news2_level {
            3 => 7,
            2 => 5,
            _ => 0,
        };
        let level = if level < track.news2_level && threshold > 0 && aggregate + 1 >= threshold {
            track.news2_level
        } else {
            level
        };
        track.news2_candidate = match track.news2_candidate {
            _ if level == track.news2_level => None,
            Some((l, _, since)) if l == level => Some((level, aggregate, since)),
            _ => Some((level, aggregate, at)),
        };
        Self::confirm_news2(mrn, track, at, delay)
    }

    /// Moves a patient's NEWS2 band once the candidate band has held for
    /// `delay`; returns the episodes that ends and starts.
    fn confirm_news2(
        mrn: &str,
        track: &mut PatientTrack,
        now: DateTime<Utc>,
        delay: Duration,
    ) -> Vec<ConditionEvent> {
        let Some((level, aggregate, since)) = track.news2_candidate else {
            return Vec::new();
        };
        if now - since < delay {
            return Vec::new();
        }
        let bands = [
            (
                1,
                "news2_single_3",
                Priority::Low,
                "NEWS2: a single parameter scores 3".to_owned(),
            ),
            (
                2,
                "news2_5",
                Priority::Medium,
                format!("NEWS2 {aggregate} ≥ 5: urgent response"),
            ),
            (
                3,
                "news2_7",
                Priority::High,
                format!("NEWS2 {aggregate} ≥ 7: emergency response"),
            ),
        ];
        let previous = track.news2_level;
        if let Some((_, _, priority, _)) = bands.iter().find(|b| b.0 == level && previous < level)
            && !track.may_start(*priority)
        {
            // Wait (keep the candidate) while a higher priority is active.
            return Vec::new();
        }
        let mut out = Vec::new();
        for (l, key, priority, msg) in bands {
            if previous == l && level != l && track.active.contains_key(key) {
                out.push(event(
                    mrn,
                    key,
                    false,
                    priority,
                    false,
                    format!("NEWS2 now {aggregate}"),
                    now,
                ));
            }
            // Rising into a band, or stepping down from a higher one into it
            // (NEWS2 8 → 6 is still an urgent-response episode).
            if level == l && previous != l && !track.active.contains_key(key) {
                out.push(event(mrn, key, true, priority, false, msg, now));
            }
        }
        track.news2_level = level;
        track.news2_candidate = None;
        out
    }

    fn tick(&mut self, now: DateTime<Utc>) -> Vec<ConditionEvent> {
        let mut out = Vec::new();
        let delay = self.rules.news2_delay;
        let mut mrns: Vec<String> = self.patients.keys().cloned().collect();
        mrns.sort();
        for mrn in &mrns {
            if let Some(track) = self.patients.get_mut(mrn) {
                out.extend(Self::confirm_news2(mrn, track, now, delay));
            }
        }
        let after = self.rules.stalled_after;
        let newest = self.patients.values().filter_map(|t| t.last_data).max();
        let Some(newest) = newest else {
            return out;
        };
        if now - newest >= after {
            // Nothing from anyone: one system condition, not one per bed.
            if !self.all_stalled {
                self.all_stalled = true;
                let msg = format!(
                    "no data from any source for {} s",
                    (now - newest).num_seconds()
                );
                out.push(ConditionEvent {
                    mrn: None,
                    key: "tech:no_data".into(),
                    started: true,
                    priority: Priority::Technical,
                    latched: false,
                    message: msg,
                    at: now,
                });
            }
            return out;
        }
        if self.all_stalled {
            self.all_stalled = false;
            out.push(ConditionEvent {
                mrn: None,
                key: "tech:no_data".into(),
                started: false,
                priority: Priority::Technical,
                latched: false,
                message: "data flowing again".into(),
                at: now,
            });
        }
        let mut mrns: Vec<&String> = self.patients.keys().collect();
        mrns.sort();
        let mut stalled = Vec::new();
        for mrn in mrns {
            let t = &self.patients[mrn];
            if let Some(last) = t.last_data
                && !t.stalled
                && now - last >= after
            {
                stalled.push((mrn.clone(), last));
            }
        }
        for (mrn, last) in stalled {
            if let Some(t) = self.patients.get_mut(&mrn) {
                t.stalled = true;
            }
            let msg = format!("no data for {} s", (now - last).num_seconds());
            out.push(event(
                &mrn,
                "tech:stream_stalled",
                true,
                Priority::Technical,
                false,
                msg,
                now,
            ));
        }
        out
    }
}

fn event(
    mrn: &str,
    key: &str,
    started: bool,
    priority: Priority,
    latched: bool,
    message: String,
    at: DateTime<Utc>,
) -> ConditionEvent {
    ConditionEvent {
        mrn: Some(mrn.to_owned()),
        key: key.to_owned(),
        started,
        priority,
        latched,
        message,
        at,
    }
}

#[cfg(test)]
mod tests {
    /// The limit alarms' keys are the vital's key and the side, as the
    /// alarm list, the audit trail and the UI know them.
    #[test]
    fn limit_keys_are_the_vital_and_the_side() {
        for vital in super::Vital::ALL {
            for (low, side) in [(true, "low"), (false, "high")] {
                assert_eq!(
                    super::limit_key(vital, low),
                    format!("{}_{side}", vital.key())
                );
            }
        }
    }
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap_or_default()
    }

    /// Patient M's ECG finding `kind` starting (or ending) at `s` seconds.
    fn ecg_finding(
        tr: &mut ConditionTracker,
        kind: FindingKind,
        onset: bool,
        s: i64,
        detail: &str,
    ) -> Vec<ConditionEvent> {
        tr.observe(&Input::Ecg {
            mrn: "M".into(),
            kind,
            onset,
            at: t(s),
            detail: detail.into(),
        })
    }

    fn hr(tr: &mut ConditionTracker, s: i64, v: f64) -> Vec<ConditionEvent> {
        tr.observe(&Input::Reading {
            mrn: "M".into(),
            vital: Vital::HeartRate,
            value: Some(v),
            at: t(s),
        })
    }

    #[test]
    fn a_short_spike_does_not_alarm_a_sustained_one_does_once() {
        let mut tr = ConditionTracker::new(Rules::default());
        let mut events = Vec::new();
        for s in 0..5 {
            events.extend(hr(&mut tr, s, 150.0));
        }
        events.extend(hr(&mut tr, 5, 80.0));
        assert!(events.is_empty(), "5 s spike alarmed: {events:?}");
        for s in 10..40 {
            events.extend(hr(&mut tr, s, 134.0));
        }
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(events[0].started);
        assert_eq!(events[0].key, "hr_high");
        assert_eq!(events[0].message, "HR 134 > 130");
    }

    #[test]
    fn hovering_at_the_limit_ends_only_inside_the_hysteresis() {
        let mut tr = ConditionTracker::new(Rules::default());
        let mut events = Vec::new();
        for s in 0..20 {
            events.extend(hr(&mut tr, s, 140.0));
        }
        // 128 is inside the limit but not by the 5/min margin: still one episode.
        for s in 20..60 {
            events.extend(hr(&mut tr, s, if s % 2 == 0 { 128.0 } else { 132.0 }));
        }
        assert_eq!(events.iter().filter(|e| e.started).count(), 1);
        assert!(events.iter().all(|e| e.started));
        for s in 60..80 {
            events.extend(hr(&mut tr, s, 100.0));
        }
        assert_eq!(events.last().map(|e| e.started), Some(false));
    }

    #[test]
    fn scale_2_patients_have_a_lower_spo2_limit() {
        let mut tr = ConditionTracker::new(Rules::default());
        tr.set_patient_limits(
            "M",
            PatientLimits {
                spo2_scale2: true,
                ..Default::default()
            },
        );
        let mut events = Vec::new();
        for s in 0..60 {
            events.extend(tr.observe(&Input::Reading {
                mrn: "M".into(),
                vital: Vital::Spo2,
                value: Some(88.0),
                at: t(s),
            }));
        }
        assert!(events.is_empty(), "{events:?}");
        for s in 60..90 {
            events.extend(tr.observe(&Input::Reading {
                mrn: "M".into(),
                vital: Vital::Spo2,
                value: Some(82.0),
                at: t(s),
            }));
        }
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].message, "SpO2 82 < 85");
    }

    #[test]
    fn news2_alarms_when_a_higher_band_holds_and_ends_with_hysteresis() {
        let mut tr = ConditionTracker::new(Rules::default());
        let n = |tr: &mut ConditionTracker, agg, s| {
            tr.observe(&Input::News2 {
                mrn: "M".into(),
                aggregate: agg,
                red_score: false,
                at: t(s),
            })
        };
        let tick = |tr: &mut ConditionTracker, s| tr.observe(&Input::Tick { now: t(s) });
        let keys = |e: Vec<ConditionEvent>| {
            e.into_iter()
                .map(|e| (e.key, e.started))
                .collect::<Vec<_>>()
        };
        assert!(n(&mut tr, 2, 0).is_empty());
        // Touching the urgent band for a minute does not alarm.
        assert!(n(&mut tr, 5, 10).is_empty());
        assert!(n(&mut tr, 3, 70).is_empty());
        assert!(tick(&mut tr, 400).is_empty());
        // Holding it for five minutes does, once.
        assert!(n(&mut tr, 5, 410).is_empty());
        assert!(tick(&mut tr, 600).is_empty());
        assert_eq!(keys(tick(&mut tr, 710)), vec![("news2_5".to_owned(), true)]);
        assert!(n(&mut tr, 6, 720).is_empty(), "same band, no new alarm");
        // 4 is within the hysteresis of the ≥5 band: the episode goes on.
        assert!(n(&mut tr, 4, 730).is_empty());
        assert!(tick(&mut tr, 1100).is_empty());
        assert!(n(&mut tr, 8, 1110).is_empty());
        assert_eq!(
            keys(tick(&mut tr, 1410)),
            vec![("news2_5".to_owned(), false), ("news2_7".to_owned(), true)]
        );
        // Down to 5 (6 is still inside the emergency band's hysteresis): the
        // emergency ends and an urgent episode starts.
        assert!(n(&mut tr, 5, 1415).is_empty());
        assert_eq!(
            keys(tick(&mut tr, 1716)),
            vec![("news2_5".to_owned(), true), ("news2_7".to_owned(), false)]
        );
        // Down to 3: two points below 5, the urgent episode ends after the hold.
        assert!(n(&mut tr, 3, 1720).is_empty());
        assert_eq!(
            keys(tick(&mut tr, 2020)),
            vec![("news2_5".to_owned(), false)]
        );
    }

    #[test]
    fn an_arrhythmia_alarm_supersedes_the_heart_rate_limit_alarm() {
        let mut tr = ConditionTracker::new(Rules::default());
        let mut events = Vec::new();
        for s in 0..20 {
            events.extend(hr(&mut tr, s, 146.0));
        }
        assert_eq!(
            events
                .iter()
                .map(|e| (e.key.as_str(), e.started))
                .collect::<Vec<_>>(),
            vec![("hr_high", true)]
        );
        let e = tr.observe(&Input::Ecg {
            mrn: "M".into(),
            kind: FindingKind::ExtremeTachycardia,
            onset: true,
            at: t(20),
            detail: String::new(),
        });
        assert_eq!(
            e.iter()
                .map(|e| (e.key.as_str(), e.started))
                .collect::<Vec<_>>(),
            vec![("hr_high", false), ("extreme_tachycardia", true)]
        );
        for s in 21..60 {
            assert!(
                hr(&mut tr, s, 150.0).is_empty(),
                "HR limit alarm back under the arrhythmia alarm"
            );
        }
    }

    #[test]
    fn an_asystole_the_pulse_contradicts_is_a_technical_alarm_until_confirmed() {
        let mut tr = ConditionTracker::new(Rules::default());
        let keys = |e: Vec<ConditionEvent>| {
            e.into_iter()
                .map(|e| (e.key, e.started, e.priority, e.message))
                .collect::<Vec<_>>()
        };
        let suppressed = |tr: &mut ConditionTracker, kind, s| {
            tr.observe(&Input::EcgSuppressed {
                mrn: "M".into(),
                kind,
                at: t(s),
                detail: "asystole on II, suppressed: PLETH pulse at 74 /min".into(),
            })
        };
        let e = keys(suppressed(&mut tr, FindingKind::Asystole, 10));
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(
            (e[0].0.as_str(), e[0].1, e[0].2),
            (ECG_ARTEFACT, true, Priority::Technical)
        );
        assert!(e[0].3.starts_with("ECG artefact: asystole"), "{}", e[0].3);
        // A second suppressed finding is covered by the same condition.
        assert!(suppressed(&mut tr, FindingKind::ExtremeBradycardia, 11).is_empty());
        let ecg = |tr: &mut ConditionTracker, kind, onset, s| {
            tr.observe(&Input::Ecg {
                mrn: "M".into(),
                kind,
                onset,
                at: t(s),
                detail: String::new(),
            })
        };
        // The bradycardia ends; the asystole is still suppressed.
        let e = keys(ecg(&mut tr, FindingKind::ExtremeBradycardia, false, 12));
        assert!(e.iter().all(|k| k.0 != ECG_ARTEFACT), "{e:?}");
        // The pulse stopped: the asystole is confirmed and alarms high.
        let e = keys(ecg(&mut tr, FindingKind::Asystole, true, 20));
        let got: Vec<(&str, bool)> = e.iter().map(|k| (k.0.as_str(), k.1)).collect();
        assert_eq!(got, vec![(ECG_ARTEFACT, false), ("asystole", true)]);
    }

    #[test]
    fn lower_priority_conditions_wait_while_a_higher_one_is_active() {
        let mut tr = ConditionTracker::new(Rules::default());
        let onset = tr.observe(&Input::Ecg {
            mrn: "M".into(),
            kind: FindingKind::ExtremeTachycardia,
            onset: true,
            at: t(0),
            detail: String::new(),
        });
        assert_eq!(onset.len(), 1);
        let mut events = Vec::new();
        for s in 0..30 {
            events.extend(hr(&mut tr, s, 165.0));
        }
        assert!(
            events.is_empty(),
            "HR limit alarm under an active extreme tachycardia: {events:?}"
        );
        tr.observe(&Input::Ecg {
            mrn: "M".into(),
            kind: FindingKind::ExtremeTachycardia,
            onset: false,
            at: t(30),
            detail: String::new(),
        });
        events.extend(hr(&mut tr, 31, 165.0));
        assert_eq!(
            events.len(),
            1,
            "the waiting HR alarm starts once the higher one ended"
        );
    }

    /// The analyser reports an ECG finding's onset once: a ventricular
    /// rhythm that begins while an extreme bradycardia is active must
    /// start when the bradycardia ends, not be lost; one that ended
    /// before then never starts.
    #[test]
    fn an_ecg_finding_held_back_by_a_higher_alarm_starts_when_it_ends() {
        let mut tr = ConditionTracker::new(Rules::default());
        let started = |events: &[ConditionEvent], key: &str| {
            events
                .iter()
                .filter(|e| e.key == key && e.started)
                .cloned()
                .collect::<Vec<_>>()
        };
        let brady = ecg_finding(&mut tr, FindingKind::ExtremeBradycardia, true, 0, "");
        assert_eq!(started(&brady, "extreme_bradycardia").len(), 1, "{brady:?}");
        let held = ecg_finding(
            &mut tr,
            FindingKind::VentricularRhythm,
            true,
            5,
            "6 ventricular beats at 38 /min",
        );
        assert!(
            started(&held, "ventricular_rhythm").is_empty(),
            "a medium alarm under an active high one: {held:?}"
        );
        let mut later = Vec::new();
        for s in 6..20 {
            later.extend(hr(&mut tr, s, 38.0));
        }
        assert!(
            started(&later, "ventricular_rhythm").is_empty(),
            "{later:?}"
        );
        let end = ecg_finding(&mut tr, FindingKind::ExtremeBradycardia, false, 20, "");
        let vr = started(&end, "ventricular_rhythm");
        assert_eq!(
            vr.len(),
            1,
            "the held rhythm starts as the bradycardia ends: {end:?}"
        );
        assert_eq!((vr[0].priority, vr[0].at), (Priority::Medium, t(20)));
        assert!(
            vr[0]
                .message
                .starts_with("VENT RHYTHM: 6 ventricular beats at 38 /min")
                && vr[0].message.contains("began during a higher alarm"),
            "{}",
            vr[0].message
        );
        // Started once: nothing more while it lasts.
        let mut after = Vec::new();
        for s in 21..30 {
            after.extend(hr(&mut tr, s, 45.0));
        }
        assert!(
            started(&after, "ventricular_rhythm").is_empty(),
            "{after:?}"
        );

        // One that ended while held back never starts.
        let mut tr = ConditionTracker::new(Rules::default());
        ecg_finding(&mut tr, FindingKind::ExtremeBradycardia, true, 0, "");
        ecg_finding(&mut tr, FindingKind::VentricularRhythm, true, 5, "");
        ecg_finding(&mut tr, FindingKind::VentricularRhythm, false, 10, "");
        let end = ecg_finding(&mut tr, FindingKind::ExtremeBradycardia, false, 20, "");
        let mut rest = end.clone();
        for s in 21..30 {
            rest.extend(hr(&mut tr, s, 60.0));
        }
        assert!(
            started(&rest, "ventricular_rhythm").is_empty(),
            "a rhythm that ended while held back started: {rest:?}"
        );
    }

    /// Issue 10: ventricular fibrillation/flutter is a life-threatening
    /// alarm: high priority, latched, and it starts even while a
    /// tachycardia alarm of the same patient is active.
    #[test]
    fn ventricular_fibrillation_is_a_high_latched_alarm() {
        let mut tr = ConditionTracker::new(Rules::default());
        let ecg = |tr: &mut ConditionTracker, kind, onset, s| {
            ecg_finding(tr, kind, onset, s, "fibrillatory waveform for 5 s")
        };
        ecg(&mut tr, FindingKind::ExtremeTachycardia, true, 0);
        let vf = ecg(&mut tr, FindingKind::VentricularFibrillation, true, 5);
        assert_eq!(vf.len(), 1, "{vf:?}");
        assert_eq!(
            (vf[0].key.as_str(), vf[0].priority, vf[0].latched),
            ("ventricular_fibrillation", Priority::High, true)
        );
        assert!(
            vf[0].message.starts_with("VFIB/VFLUTTER"),
            "{}",
            vf[0].message
        );
    }

    /// Issue 10: a ventricular rhythm (idioventricular, at 100 /min or
    /// slower) is a medium alarm that clears when the rhythm ends, and
    /// gives way to VT should the rhythm speed up.
    /// Issue 10: atrial flutter is reported as AF is, by its own name:
    /// a one-shot medium event at onset, a low one when it ends.
    #[test]
    fn atrial_flutter_is_a_one_shot_event_at_onset_and_at_its_end() {
        let mut tr = ConditionTracker::new(Rules::default());
        let on = ecg_finding(
            &mut tr,
            FindingKind::AtrialFlutter,
            true,
            0,
            "HR 96 /min, atrial waves 300 /min, organisation 0.75",
        );
        let keys: Vec<_> = on
            .iter()
            .map(|e| (e.key.as_str(), e.priority, e.started))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("aflutter_onset", Priority::Medium, true),
                ("aflutter_onset", Priority::Medium, false)
            ]
        );
        assert!(
            on[0]
                .message
                .starts_with("Atrial flutter onset: HR 96 /min"),
            "{}",
            on[0].message
        );
        let off = ecg_finding(&mut tr, FindingKind::AtrialFlutter, false, 60, "");
        assert!(
            off.iter()
                .any(|e| e.key == "aflutter_termination" && e.priority == Priority::Low),
            "{off:?}"
        );
    }

    #[test]
    fn a_ventricular_rhythm_is_a_medium_alarm_that_clears() {
        let mut tr = ConditionTracker::new(Rules::default());
        let ecg = |tr: &mut ConditionTracker, kind, onset, s| {
            ecg_finding(tr, kind, onset, s, "5 ventricular beats at 56 /min")
        };
        let on = ecg(&mut tr, FindingKind::VentricularRhythm, true, 0);
        assert_eq!(on.len(), 1, "{on:?}");
        assert_eq!(
            (
                on[0].key.as_str(),
                on[0].priority,
                on[0].latched,
                on[0].started
            ),
            ("ventricular_rhythm", Priority::Medium, false, true)
        );
        assert!(
            on[0]
                .message
                .starts_with("VENT RHYTHM: 5 ventricular beats"),
            "{}",
            on[0].message
        );
        let off = ecg(&mut tr, FindingKind::VentricularRhythm, false, 20);
        assert!(
            off.iter()
                .any(|e| e.key == "ventricular_rhythm" && !e.started),
            "{off:?}"
        );
        // It may come back, and VT still raises its high alarm over it.
        assert_eq!(
            ecg(&mut tr, FindingKind::VentricularRhythm, true, 40).len(),
            1
        );
        let vt = ecg(&mut tr, FindingKind::VentricularTachycardia, true, 45);
        assert!(
            vt.iter().any(|e| e.key == "ventricular_tachycardia"
                && e.started
                && e.priority == Priority::High),
            "{vt:?}"
        );
    }

    #[test]
    fn a_disconnected_monitor_is_one_technical_alarm() {
        let mut tr = ConditionTracker::new(Rules::default());
        let mut events = Vec::new();
        for s in 0..30 {
            for v in [Vital::HeartRate, Vital::Spo2, Vital::RespRate] {
                events.extend(tr.observe(&Input::Reading {
                    mrn: "M".into(),
                    vital: v,
                    value: None,
                    at: t(s),
                }));
            }
        }
        events.extend(tr.observe(&Input::Ecg {
            mrn: "M".into(),
            kind: FindingKind::EcgSignalUnusable,
            onset: true,
            at: t(20),
            detail: String::new(),
        }));
        assert_eq!(events.iter().filter(|e| e.started).count(), 1, "{events:?}");
        events.extend(tr.observe(&Input::Reading {
            mrn: "M".into(),
            vital: Vital::Spo2,
            value: Some(97.0),
            at: t(31),
        }));
        assert!(events.iter().all(|e| e.started), "still lost: HR, RR, ECG");
        for v in [Vital::HeartRate, Vital::RespRate] {
            events.extend(tr.observe(&Input::Reading {
                mrn: "M".into(),
                vital: v,
                value: Some(70.0),
                at: t(32),
            }));
        }
        events.extend(tr.observe(&Input::Ecg {
            mrn: "M".into(),
            kind: FindingKind::EcgSignalUnusable,
            onset: false,
            at: t(33),
            detail: String::new(),
        }));
        assert_eq!(
            events.last().map(|e| (e.key.as_str(), e.started)),
            Some(("tech:sensor_off", false))
        );
    }

    #[test]
    fn signal_loss_and_stall_are_technical() {
        let mut tr = ConditionTracker::new(Rules::default());
        let mut events = Vec::new();
        for s in 0..20 {
            events.extend(tr.observe(&Input::Reading {
                mrn: "M".into(),
                vital: Vital::Spo2,
                value: None,
                at: t(s),
            }));
        }
        assert_eq!(events.len(), 1);
        assert_eq!(
            (events[0].key.as_str(), events[0].priority),
            ("tech:sensor_off", Priority::Technical)
        );
        // Another bed keeps sending: bed M alone has stalled.
        tr.observe(&Input::Reading {
            mrn: "N".into(),
            vital: Vital::HeartRate,
            value: Some(70.0),
            at: t(95),
        });
        let e = tr.observe(&Input::Tick { now: t(100) });
        assert_eq!(
            e.iter()
                .map(|e| (e.key.as_str(), e.mrn.as_deref()))
                .collect::<Vec<_>>(),
            vec![("tech:stream_stalled", Some("M"))]
        );
        tr.observe(&Input::Reading {
            mrn: "N".into(),
            vital: Vital::HeartRate,
            value: Some(70.0),
            at: t(195),
        });
        assert!(
            tr.observe(&Input::Tick { now: t(200) }).is_empty(),
            "one stall episode"
        );
        // Nothing from anyone: one system condition, not one per bed.
        let e = tr.observe(&Input::Tick { now: t(400) });
        assert_eq!(
            e.iter()
                .map(|e| (e.key.as_str(), e.mrn.as_deref()))
                .collect::<Vec<_>>(),
            vec![("tech:no_data", None)]
        );
        assert!(tr.observe(&Input::Tick { now: t(500) }).is_empty());
    }

    /// ECG liveness is its own input (it used to be a fake O2-flow reading):
    /// a patient with ECG only is never stalled, and a stalled one comes
    /// back on ECG alone.
    #[test]
    fn ecg_alone_keeps_a_stream_alive_and_ends_a_stall() {
        let mut tr = ConditionTracker::new(Rules::default());
        let alive = |tr: &mut ConditionTracker, mrn: &str, s: i64| {
            tr.observe(&Input::EcgAlive {
                mrn: mrn.into(),
                at: t(s),
            })
        };
        assert!(alive(&mut tr, "E", 0).is_empty());
        assert!(alive(&mut tr, "S", 0).is_empty());
        let mut events = Vec::new();
        for s in 1..=100 {
            events.extend(alive(&mut tr, "E", s));
            events.extend(tr.observe(&Input::Tick { now: t(s) }));
        }
        assert_eq!(
            events
                .iter()
                .map(|e| (e.key.as_str(), e.mrn.as_deref(), e.started))
                .collect::<Vec<_>>(),
            vec![("tech:stream_stalled", Some("S"), true)],
            "only S stalled; E's ECG kept it alive and raised no sensor-off"
        );
        let back = alive(&mut tr, "S", 101);
        assert_eq!(back.len(), 1);
        assert_eq!(
            (back[0].key.as_str(), back[0].started),
            ("tech:stream_stalled", false)
        );
    }
}
