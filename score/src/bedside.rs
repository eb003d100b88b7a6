//! Multi-signal alarm decisions: every ECG lead analysed by its own
//! [`EcgStream`], every pulsatile channel (pleth, arterial pressure) by a
//! [`PulseDetector`], and each life-threatening ECG finding (asystole,
//! extreme bradycardia or tachycardia, VT, VF) confirmed or suppressed by
//! what the other signals show.
//!
//! Why: most ICU arrhythmia alarms are false, mostly from ECG artefact
//! (Drew et al., PLoS ONE 9 (2014) e110274: 88.8 % of arrhythmia alarms), and
//! the best entries of the PhysioNet/CinC Challenge 2015 (Clifford et al.,
//! "False alarm reduction in critical care", Physiol. Meas. 37(8), 2016,
//! and the focus issue it opens) reached their scores by checking the
//! pulse: a pleth or an arterial line that keeps beating regularly during an
//! "asystole" says the heart is beating.
//!
//! The rule errs towards alarming:
//! - a finding is **confirmed** when no other signal contradicts it — the
//!   other signals agree, or are absent or unusable;
//! - asystole, extreme bradycardia and extreme tachycardia are
//!   **suppressed** when a good-quality channel (a pulse, or another ECG
//!   lead's beats) shows a regular rhythm at a rate that contradicts the
//!   finding (see [`Says`]);
//! - VT and VF are suppressed only on strong evidence: every pulse channel
//!   with signal shows a regular, steady pulse below the finding's rate
//!   range, throughout the finding; the ECG leads never suppress them;
//! - a suppressed finding is judged again with every block while it lasts,
//!   on its last seconds: it alarms as soon as a channel agrees (the pulse
//!   stopped), or 5 s after the last contradiction when the evidence only
//!   became unusable.
//!
//! Decisions use the same code live (the runtime) and offline (`wardwatchctl
//! ecg analyze`, the Challenge evaluation).

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use crate::analysis::{EcgStream, StreamEvent, StreamUpdate};
use crate::ecg::beats::BeatClass;
use crate::ecg::qrs::BEAT_LATENCY_S;
use crate::ecg::rhythm::{Finding, FindingKind};
use crate::error::Result;
use crate::pulse::{Pulse, PulseDetector, PulseEvidence};

/// What a channel carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Ecg,
    /// Photoplethysmogram (pulse oximeter).
    Pleth,
    /// Arterial blood pressure.
    Abp,
}

impl ChannelKind {
    pub fn is_pulsatile(self) -> bool {
        matches!(self, ChannelKind::Pleth | ChannelKind::Abp)
    }

    /// The kind of a recorded signal from its description and units as
    /// WFDB headers give them: an ECG lead is in mV, `PLETH` is the pleth,
    /// `ABP` or `ART` the arterial pressure; anything else (RESP, CVP, ...)
    /// is not analysed here.
    pub fn of_signal(description: &str, units: &str) -> Option<ChannelKind> {
        if units.eq_ignore_ascii_case("mV") {
            Some(ChannelKind::Ecg)
        } else if description.eq_ignore_ascii_case("PLETH") {
            Some(ChannelKind::Pleth)
        } else if description.eq_ignore_ascii_case("ABP") || description.eq_ignore_ascii_case("ART")
        {
            Some(ChannelKind::Abp)
        } else {
            None
        }
    }
}

/// One channel of a bed: its name (a lead such as `II`, or `PLETH`, `ABP`),
/// kind and sampling rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Channel {
    pub name: String,
    pub kind: ChannelKind,
    pub fs_hz: f64,
}

/// What one channel says of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Says {
    /// Consistent with it (no pulse in an asystole, a pulse as fast as the
    /// tachycardia, ...).
    Agrees,
    /// Good-quality evidence against it.
    Contradicts,
    /// Usable, but neither for nor against (a pulse that was irregular
    /// before the finding, so a disturbance cannot be told).
    Inconclusive,
    /// Too little usable signal to say.
    Unusable,
}

/// One channel's part in a decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelEvidence {
    pub channel: String,
    pub kind: ChannelKind,
    pub says: Says,
    pub rate_bpm: Option<f64>,
    pub longest_gap_s: f64,
    /// For VT, another lead's own classes of the run's beats, when they
    /// decided its say (see `ClassedBeats::says`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classed: Option<ClassedBeats>,
}

/// Another lead's classes of a VT run's beats (see [`ChannelEvidence`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClassedBeats {
    /// The run's beats on the lead that found it.
    pub run: usize,
    /// The run's beats that lead also detected and classified.
    pub matched: usize,
    /// Of them, classed normal.
    pub normal: usize,
    /// Of them, classed ventricular.
    pub ventricular: usize,
}

impl ClassedBeats {
    /// What the other lead's classes say of the run, when they say
    /// anything. A ventricular beat is wide and unlike the conducted beat
    /// in every lead, and a VT's ventricles beat on their own rhythm. So a
    /// lead with usable signal that classed all but at most one of the
    /// run's beats, every one of them normal, while its beats went on
    /// regular and steady at the rate they had before (`during`, `before`:
    /// the rhythm undisturbed), contradicts it: one lead's conducted beats
    /// read as ventricular (a rate-dependent bundle branch block on V1,
    /// MIT-BIH 212). Normal beats in an irregular rhythm do not (AF with
    /// aberrant conduction cannot be told from VT that way: Challenge 2015
    /// t209l). Otherwise its rhythm is judged as a pulse's (`judge`): its
    /// classing the run ventricular too is no agreement, since motion
    /// artefact reaches every lead at once.
    fn says(&self, during: &PulseEvidence, before: Option<&PulseEvidence>) -> Option<Says> {
        let all_but_one = |n: usize| n >= VT_CLASSED_MIN && n + 1 >= self.run;
        let undisturbed = during.is_good()
            && before.is_some_and(|b| {
                b.is_good()
                    && b.rate_bpm
                        .zip(during.rate_bpm)
                        .is_some_and(|(r, now)| (now - r).abs() <= VT_RATE_CHANGE * r)
            });
        (all_but_one(self.matched) && self.normal == self.matched && undisturbed)
            .then_some(Says::Contradicts)
    }
}

/// Fewest of a VT run's beats another lead must have classed for its
/// classes to say anything (a run has at least `VT_BEATS`, 5).
const VT_CLASSED_MIN: usize = 4;
/// A beat of the run and another lead's beat this close are the same beat
/// (the ±150 ms of beat-by-beat comparison, ANSI/AAMI EC57).
const SAME_BEAT_S: f64 = 0.15;

/// Whether a life-threatening finding alarms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Confirmed,
    /// Shown as the technical state "ECG artefact" with the decision's
    /// text: a pulse, or another lead, shows the heart beating.
    Suppressed,
}

/// A decision on one finding, with the evidence that made it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub verdict: Verdict,
    /// The ECG lead that raised the finding.
    pub lead: String,
    /// The finding; its `start_s` and `end_s` on the bed's time (its
    /// sample numbers are the lead's own).
    pub finding: Finding,
    /// When it was decided (seconds of the bed's time).
    pub at_s: f64,
    pub evidence: Vec<ChannelEvidence>,
}

impl Decision {
    /// One line for the alarm text: what was decided and which signals
    /// decided it, e.g. "ventricular tachycardia on II, confirmed: PLETH no
    /// regular pulse; V unusable".
    pub fn summary(&self) -> String {
        // A bed of ECG leads alone has no pulse to speak of.
        let pulse = self
            .evidence
            .iter()
            .any(|e| e.says == Says::Contradicts && e.kind.is_pulsatile());
        let verdict = match self.verdict {
            Verdict::Confirmed => "confirmed",
            Verdict::Suppressed if pulse => "suppressed (pulse present)",
            Verdict::Suppressed => "suppressed (heartbeat on another lead)",
        };
        format!(
            "{} on {}, {verdict}: {}",
            self.finding.kind.label(),
            self.lead,
            self.evidence_text()
        )
    }

    /// What each other signal said, e.g. "PLETH pulse at 74 /min; V
    /// unusable", or "ECG only" when the bed has no other signal.
    pub fn evidence_text(&self) -> String {
        let mut parts = Vec::new();
        for e in &self.evidence {
            // The other lead's classes contradicted a VT.
            if let Some(c) = e.classed {
                parts.push(format!(
                    "{} beats normal ({} of {})",
                    e.channel, c.normal, c.run
                ));
                continue;
            }
            let what = match (e.says, e.rate_bpm) {
                (Says::Contradicts, Some(r)) if e.kind.is_pulsatile() => {
                    format!("{} pulse at {r:.0} /min", e.channel)
                }
                (Says::Contradicts, Some(r)) => format!("{} beats at {r:.0} /min", e.channel),
                (Says::Agrees, _)
                    if self.finding.kind == FindingKind::Asystole || e.longest_gap_s >= 4.0 =>
                {
                    let what = if e.kind.is_pulsatile() {
                        "pulse"
                    } else {
                        "beat"
                    };
                    format!("{} no {what} for {:.1} s", e.channel, e.longest_gap_s)
                }
                (Says::Agrees, Some(r))
                    if self.finding.kind == FindingKind::VentricularTachycardia =>
                {
                    format!("{} disturbed ({r:.0} /min)", e.channel)
                }
                (Says::Agrees, Some(r)) => format!("{} agrees ({r:.0} /min)", e.channel),
                (Says::Agrees, None) => format!("{} agrees", e.channel),
                (Says::Unusable, _) => format!("{} unusable", e.channel),
                (Says::Inconclusive, _) => format!("{} inconclusive", e.channel),
                (Says::Contradicts, None) => format!("{} contradicts", e.channel),
            };
            parts.push(what);
        }
        if parts.is_empty() {
            "ECG only".to_owned()
        } else {
            parts.join("; ")
        }
    }
}

/// What [`BedsideStream::push`] produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum BedsideEvent {
    /// A life-threatening finding was decided (first at its onset; a
    /// suppressed one again when the contradiction ends).
    Decision(Decision),
    /// No lead reports that finding any longer.
    End { kind: FindingKind, time_s: f64 },
}

/// Is this one of the findings the pulse may confirm or suppress?
pub fn is_life_threatening(kind: FindingKind) -> bool {
    matches!(
        kind,
        FindingKind::Asystole
            | FindingKind::ExtremeBradycardia
            | FindingKind::ExtremeTachycardia
            | FindingKind::VentricularTachycardia
            | FindingKind::VentricularFibrillation
    )
}

/// Seconds of beats, pulses and gaps kept per channel.
const KEEP_S: f64 = 60.0;
/// Seconds of a lead's beat classes kept: only a VT run's onset is judged
/// by them (its five beats, the classifier's lookahead and `WAIT_S` fit in
/// well under this), and a bed holds them for every lead of every patient.
const CLASSES_KEEP_S: f64 = 20.0;
/// The shortest span judged: a few pulses even at 30 /min.
const MIN_SPAN_S: f64 = 8.0;
/// An arterial pressure pulse that perfuses: diastolic pressure and pulse
/// pressure of at least 20 mmHg, the limits below which Sun, Reisner and
/// Mark ("A signal abnormality index for arterial blood pressure
/// waveforms", Computers in Cardiology 33 (2006) 13–16) call a beat
/// abnormal. Pulses of a line reading 10–20 mmHg (a damped or open
/// transducer, the run-off of a heart that stopped) are not a pulse.
fn is_arterial_pulse(p: &Pulse) -> bool {
    p.foot >= ABP_MIN_DIASTOLIC_MMHG && p.amplitude >= ABP_MIN_PULSE_PRESSURE_MMHG
}
const ABP_MIN_DIASTOLIC_MMHG: f64 = 20.0;
const ABP_MIN_PULSE_PRESSURE_MMHG: f64 = 20.0;

/// The VT span starts this long before the run's first beat.
const VT_LEAD_IN_S: f64 = 1.0;
/// The pulse during an artefactual VT keeps its rate within this share;
/// a pulse this much faster than the run's own beats is not the run's.
const VT_RATE_CHANGE: f64 = 0.15;
/// A VT finding ends at its last beat: the span of the run's beats reaches
/// just past it.
const RUN_END_S: f64 = 0.01;
/// VF is contradicted by pulses with no pause this long.
const VF_GAP_S: f64 = 2.0;
/// Another lead's beats at this rate or slower are discrete complexes, not
/// fibrillation, even when their intervals vary: VF is chaotic ventricular
/// activity without identifiable QRS complexes, and flutter a continuous
/// sine-like undulation at 150 /min and faster (the textbook definitions;
/// Clifford et al. 2015 define the alarm as a fibrillatory, flutter or
/// oscillatory waveform for at least 4 s). A slow rhythm with
/// complexes separated by baseline, and no pause longer than one and a
/// half of its intervals, is an organised heartbeat, so the other lead's
/// "VF" is artefact. Such a lead still needs `PulseEvidence::is_present`
/// (half its intervals within 20 % of the median, steady amplitude, no
/// gap): a detector's "beats" in fine VF are neither.
const VF_DISCRETE_BPM: f64 = 100.0;
/// Pulses (or another lead's organised beats) at up to this rate
/// contradict VF. Faster, a pleth's "pulses" are more likely tremor or
/// motion than perfusion, and another lead's regular beats may be
/// flutter's undulation; an arterial line's regular pulse is pressure,
/// which neither tremor nor a fibrillating heart makes, and contradicts VF
/// at any rate `PulseEvidence::is_good` accepts (up to 220 /min: Challenge
/// 2015 t409l's VF calls on V at 277 and 294 s, the ABP and pleth beating
/// regularly at 157 /min).
const VF_PULSE_BPM: f64 = 150.0;
/// A channel (a pulse, another lead) this far behind the newest lead is
/// judged on what it has delivered; one further behind is unusable.
const MAX_LAG_S: f64 = 2.0;
/// A new finding's decision waits for a channel (a pulse, another lead)
/// behind the newest lead by less than this (its block for these seconds
/// is on its way: streams send blocks of a few seconds, each channel on
/// its own), and for this long at most; a channel further behind has
/// stalled.
const WAIT_S: f64 = 5.0;
/// A channel this close to the time a finding was first seen has caught
/// up with it.
const CAUGHT_UP_S: f64 = 0.1;
/// A suppressed finding whose contradiction became unusable or
/// inconclusive (not agreeing) alarms after this long.
const HOLD_S: f64 = 5.0;
/// No pulse for this long agrees with VF and VT (the Challenge's asystole
/// limit).
const NO_PULSE_S: f64 = 4.0;
/// Fewest beats or pulses for a channel to be inconclusive rather than
/// unusable.
const MIN_EVIDENCE: usize = 3;
/// A lasting finding is judged on this many seconds before now.
const RECENT_S: f64 = 12.0;
/// A pause in a pulse or lead this long is no contradiction of asystole.
const ASYSTOLE_GAP_S: f64 = 3.0;

#[derive(Debug, Clone)]
struct Lead {
    stream: EcgStream,
    /// Recent beats as pulses (R peak, QRS amplitude).
    beats: VecDeque<Pulse>,
    /// Recent beats' classes (R peak, class), as the lead classified them.
    classes: VecDeque<(usize, BeatClass)>,
    unusable: bool,
    active: BTreeMap<FindingKind, Finding>,
    /// Findings that ended before the bed decided them (a VT run of five
    /// beats can start and end within one block): decided all the same,
    /// then ended.
    brief: BTreeMap<FindingKind, Finding>,
}

#[derive(Debug, Clone)]
struct PulseChannel {
    detector: PulseDetector,
    pulses: VecDeque<Pulse>,
    /// Recent blocks: (first sample, samples, missing samples).
    blocks: VecDeque<(usize, usize, usize)>,
}

#[derive(Debug, Clone)]
enum Analyser {
    Lead(Box<Lead>),
    Pulse(Box<PulseChannel>),
}

impl Analyser {
    fn for_channel(c: &Channel) -> Result<Analyser> {
        Ok(match c.kind {
            ChannelKind::Ecg => Analyser::Lead(Box::new(Lead {
                stream: EcgStream::new(c.fs_hz)?,
                beats: VecDeque::new(),
                classes: VecDeque::new(),
                unusable: false,
                active: BTreeMap::new(),
                brief: BTreeMap::new(),
            })),
            ChannelKind::Pleth | ChannelKind::Abp => {
                if !(c.fs_hz.is_finite() && c.fs_hz >= 25.0) {
                    return Err(crate::error::Error::SamplingRate {
                        fs_hz: c.fs_hz,
                        min_hz: 25.0,
                    });
                }
                Analyser::Pulse(Box::new(PulseChannel {
                    detector: PulseDetector::new(c.fs_hz),
                    pulses: VecDeque::new(),
                    blocks: VecDeque::new(),
                }))
            }
        })
    }
}

fn finite_or_zero(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}

#[derive(Debug, Clone)]
struct Open {
    verdict: Verdict,
    /// When a channel last contradicted the finding.
    contradicted_s: f64,
}

/// A bed's signals analysed together. Channels are fed separately (each at
/// its own rate and pace); decisions are taken when an ECG block arrives,
/// on what the other channels have delivered so far.
#[derive(Debug, Clone)]
pub struct BedsideStream {
    channels: Vec<Channel>,
    analysers: Vec<Analyser>,
    /// Where each channel's sample 0 lies on the bed's time, in seconds.
    offsets: Vec<f64>,
    open: BTreeMap<FindingKind, Open>,
    /// New findings waiting for a pulse channel to catch up, since when.
    pending: BTreeMap<FindingKind, f64>,
    /// The patient is paced (see `EcgStream::set_paced`).
    paced: bool,
}

/// One channel's block result.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BedsideUpdate {
    /// The ECG analysis of the block when the channel is a lead.
    pub ecg: Option<StreamUpdate>,
    /// Pulses found when the channel is pulsatile.
    pub pulses: Vec<Pulse>,
    pub events: Vec<BedsideEvent>,
}

impl BedsideStream {
    /// A bed whose channels all start at time 0.
    pub fn new(channels: Vec<Channel>) -> Result<BedsideStream> {
        let mut analysers = Vec::with_capacity(channels.len());
        for c in &channels {
            analysers.push(Analyser::for_channel(c)?);
        }
        Ok(BedsideStream {
            offsets: vec![0.0; channels.len()],
            channels,
            analysers,
            open: BTreeMap::new(),
            pending: BTreeMap::new(),
            paced: false,
        })
    }

    /// Whether the patient is paced, for every lead now and to come: a
    /// paced beat is not read as a ventricular rhythm.
    pub fn set_paced(&mut self, paced: bool) {
        self.paced = paced;
        for a in &mut self.analysers {
            if let Analyser::Lead(lead) = a {
                lead.stream.set_paced(paced);
            }
        }
    }

    /// Adds a channel whose sample 0 lies `offset_s` seconds into the bed's
    /// time (negative: before it); returns its index. A live bed gains
    /// channels as their first blocks arrive.
    pub fn add_channel(&mut self, channel: Channel, offset_s: f64) -> Result<usize> {
        let mut analyser = Analyser::for_channel(&channel)?;
        if let Analyser::Lead(lead) = &mut analyser {
            lead.stream.set_paced(self.paced);
        }
        self.channels.push(channel);
        self.analysers.push(analyser);
        self.offsets.push(finite_or_zero(offset_s));
        Ok(self.channels.len() - 1)
    }

    /// Starts channel `index` afresh at `fs_hz`, its sample 0 at `offset_s`
    /// (after a long gap, a clock jump or a new rate): what it had learnt
    /// and found is dropped, and a finding it alone raised ends with the
    /// next decision.
    pub fn restart_channel(&mut self, index: usize, fs_hz: f64, offset_s: f64) -> Result<()> {
        let Some(old) = self.channels.get(index) else {
            return Err(crate::error::Error::UnknownChannel {
                index,
                channels: self.channels.len(),
            });
        };
        let channel = Channel {
            name: old.name.clone(),
            kind: old.kind,
            fs_hz,
        };
        self.analysers[index] = Analyser::for_channel(&channel)?;
        if let Analyser::Lead(lead) = &mut self.analysers[index] {
            lead.stream.set_paced(self.paced);
        }
        self.channels[index] = channel;
        self.offsets[index] = finite_or_zero(offset_s);
        Ok(())
    }

    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    /// The heart rate from the best evidence the bed has now, and the
    /// channel it comes from: `ecg_reading` (lead `lead`'s meter) while that
    /// lead beats (usable, no pause of [`ASYSTOLE_GAP_S`] in its last
    /// [`MIN_SPAN_S`]); else the rate of a good (regular, steady) pulse
    /// channel over its last [`MIN_SPAN_S`], as a monitor counts the pulse
    /// when the ECG is off; else the lead's reading, decaying as it does
    /// without beats.
    pub fn heart_rate(&self, lead: usize, ecg_reading: Option<f64>) -> Option<(usize, f64)> {
        let beating = matches!(self.analysers.get(lead), Some(Analyser::Lead(_)))
            && self
                .evidence(lead, self.time_s(lead) - MIN_SPAN_S, self.time_s(lead))
                .is_some_and(|(ev, usable)| usable && ev.is_present(ASYSTOLE_GAP_S));
        if beating {
            return ecg_reading.map(|hr| (lead, hr));
        }
        let pulse = (0..self.channels.len()).find_map(|i| {
            if !matches!(self.analysers[i], Analyser::Pulse(_)) {
                return None;
            }
            let now = self.time_s(i);
            let (ev, usable) = self.evidence(i, now - MIN_SPAN_S, now)?;
            (usable && ev.is_good()).then_some((i, ev.rate_bpm?))
        });
        pulse.or_else(|| ecg_reading.map(|hr| (lead, hr)))
    }

    /// Feeds a block of channel `index` (its units: mV, NU or mmHg; NaN or
    /// infinite for missing samples). An `index` that is not one of the
    /// channels given is an error, and nothing is fed.
    pub fn push(&mut self, index: usize, samples: &[f64]) -> Result<BedsideUpdate> {
        let Some(channel) = self.channels.get(index) else {
            return Err(crate::error::Error::UnknownChannel {
                index,
                channels: self.channels.len(),
            });
        };
        let fs = channel.fs_hz;
        let kind = self.channels[index].kind;
        let offset_s = self.offsets[index];
        let keep = (KEEP_S * fs) as usize;
        let mut update = BedsideUpdate::default();
        match &mut self.analysers[index] {
            Analyser::Pulse(p) => {
                let start = p.detector.samples_seen();
                let mut found = p.detector.push(samples);
                if kind == ChannelKind::Abp {
                    found.retain(is_arterial_pulse);
                }
                let missing = samples.iter().filter(|x| !x.is_finite()).count();
                p.blocks.push_back((start, samples.len(), missing));
                p.pulses.extend(found.iter().copied());
                let now = p.detector.samples_seen();
                while p.pulses.front().is_some_and(|q| q.onset + keep < now) {
                    p.pulses.pop_front();
                }
                while p.blocks.front().is_some_and(|b| b.0 + b.1 + keep < now) {
                    p.blocks.pop_front();
                }
                update.pulses = found;
            }
            Analyser::Lead(lead) => {
                let ecg = lead.stream.push(samples);
                lead.beats.extend(ecg.beats.iter().map(|b| Pulse {
                    onset: b.sample,
                    mark: b.sample,
                    upstroke: b.amplitude_mv,
                    foot: 0.0,
                    amplitude: b.amplitude_mv,
                }));
                lead.classes.extend(ecg.classes.iter().copied());
                if let Some(last) = lead.beats.back().map(|b| b.onset) {
                    while lead.beats.front().is_some_and(|b| b.onset + keep < last) {
                        lead.beats.pop_front();
                    }
                    let keep = (CLASSES_KEEP_S * fs) as usize;
                    while lead.classes.front().is_some_and(|c| c.0 + keep < last) {
                        lead.classes.pop_front();
                    }
                }
                for e in &ecg.events {
                    match e {
                        StreamEvent::Onset(f) if f.kind == FindingKind::EcgSignalUnusable => {
                            lead.unusable = true;
                        }
                        StreamEvent::End {
                            kind: FindingKind::EcgSignalUnusable,
                            ..
                        } => lead.unusable = false,
                        StreamEvent::Onset(f) if is_life_threatening(f.kind) => {
                            // On the bed's time, where the other channels are.
                            let mut f = f.clone();
                            f.start_s += offset_s;
                            f.end_s += offset_s;
                            lead.active.insert(f.kind, f);
                        }
                        StreamEvent::End { kind, .. } => {
                            if let Some(f) = lead.active.remove(kind) {
                                lead.brief.insert(*kind, f);
                            }
                        }
                        StreamEvent::Onset(_) => {}
                    }
                }
                update.ecg = Some(ecg);
            }
        }
        update.events = self.judge();
        Ok(update)
    }

    /// Decides every open finding again, at the newest lead's time. While
    /// another channel has not yet delivered the seconds up to when a new
    /// finding was first seen (behind by less than `WAIT_S`: its block for
    /// these seconds is on its way), the finding's decision waits for it,
    /// `WAIT_S` at most, so a pulse that stopped is seen to have stopped
    /// and another lead is judged on the same seconds (a lead one block
    /// behind read as a pause: MIT-BIH 207's ventricular flutter at
    /// 1,541 s was first suppressed by V1's beats from before it).
    fn judge(&mut self) -> Vec<BedsideEvent> {
        let mut events = Vec::new();
        let Some(now_s) = (0..self.channels.len())
            .filter(|&i| matches!(self.analysers[i], Analyser::Lead(_)))
            .map(|i| self.time_s(i))
            .max_by(f64::total_cmp)
        else {
            return events;
        };
        let times: Vec<f64> = (0..self.channels.len()).map(|i| self.time_s(i)).collect();
        // Findings active on some lead, the first lead's finding for each;
        // then those that ended before they were decided.
        let mut active: BTreeMap<FindingKind, (usize, Finding)> = BTreeMap::new();
        for (i, a) in self.analysers.iter_mut().enumerate() {
            if let Analyser::Lead(l) = a {
                for (k, f) in &l.active {
                    active.entry(*k).or_insert_with(|| (i, f.clone()));
                }
                // One already decided ends as usual.
                l.brief.retain(|k, _| !self.open.contains_key(k));
            }
        }
        let mut brief: Vec<(usize, FindingKind)> = Vec::new();
        for (i, a) in self.analysers.iter().enumerate() {
            if let Analyser::Lead(l) = a {
                for (k, f) in &l.brief {
                    if !active.contains_key(k) {
                        active.insert(*k, (i, f.clone()));
                        brief.push((i, *k));
                    }
                }
            }
        }
        let ended: Vec<FindingKind> = self
            .open
            .keys()
            .filter(|k| !active.contains_key(k))
            .copied()
            .collect();
        for kind in ended {
            self.open.remove(&kind);
            events.push(BedsideEvent::End {
                kind,
                time_s: now_s,
            });
        }
        self.pending.retain(|k, _| active.contains_key(k));
        for (kind, (lead, finding)) in active {
            let was = self.open.get(&kind).map(|o| o.verdict);
            if was == Some(Verdict::Confirmed) {
                continue;
            }
            // A new finding waits until every other channel has delivered
            // the seconds up to when it was first seen, but for `WAIT_S` at
            // most: a stream that always lags must not hold a decision back
            // for ever, and one further behind has stalled. (A suppressed
            // one needs no wait: it is judged again as each block arrives.)
            if was.is_none() {
                let since = *self.pending.entry(kind).or_insert(now_s);
                let behind = times
                    .iter()
                    .any(|&t| now_s - t < WAIT_S && t < since - CAUGHT_UP_S);
                if behind && now_s - since < WAIT_S {
                    continue;
                }
            }
            self.pending.remove(&kind);
            if let Some(&(i, _)) = brief.iter().find(|(_, k)| *k == kind)
                && let Analyser::Lead(l) = &mut self.analysers[i]
            {
                l.brief.remove(&kind);
            }
            let decision = self.decide(lead, &finding, now_s);
            match (was, decision.verdict) {
                (Some(Verdict::Suppressed), Verdict::Suppressed) => {
                    if let Some(o) = self.open.get_mut(&kind) {
                        o.contradicted_s = now_s;
                    }
                }
                (Some(Verdict::Suppressed), Verdict::Confirmed) => {
                    // Confirmed at once when a channel agrees (the pulse
                    // stopped); when the contradiction merely became
                    // unusable or inconclusive, after `HOLD_S` of it, so
                    // one noisy second does not flip the decision.
                    let since = self.open.get(&kind).map_or(0.0, |o| o.contradicted_s);
                    let agrees = decision.evidence.iter().any(|e| e.says == Says::Agrees);
                    if agrees || now_s - since >= HOLD_S {
                        self.open.insert(
                            kind,
                            Open {
                                verdict: Verdict::Confirmed,
                                contradicted_s: since,
                            },
                        );
                        events.push(BedsideEvent::Decision(decision));
                    }
                }
                _ => {
                    self.open.insert(
                        kind,
                        Open {
                            verdict: decision.verdict,
                            contradicted_s: now_s,
                        },
                    );
                    events.push(BedsideEvent::Decision(decision));
                }
            }
        }
        events
    }

    fn time_s(&self, index: usize) -> f64 {
        let seen = match &self.analysers[index] {
            Analyser::Lead(l) => l.stream.samples_seen(),
            Analyser::Pulse(p) => p.detector.samples_seen(),
        };
        self.offsets[index] + seen as f64 / self.channels[index].fs_hz
    }

    /// The decision on `finding` of lead `lead` at `now_s`.
    fn decide(&self, lead: usize, finding: &Finding, now_s: f64) -> Decision {
        let kind = finding.kind;
        // The span judged: the finding itself, at least `MIN_SPAN_S` for
        // the rate findings and asystole; for VT the run from its first
        // beat, compared with the pulse before it. A finding that lasts is
        // judged on its last `RECENT_S`: is there a pulse now?
        let from_s = match kind {
            FindingKind::VentricularTachycardia => finding.start_s - VT_LEAD_IN_S,
            FindingKind::VentricularFibrillation => finding.start_s,
            _ => finding.start_s.min(now_s - MIN_SPAN_S),
        }
        .max(now_s - RECENT_S);
        let before_from = from_s - MIN_SPAN_S;
        // The run's own rate: the lead's beats from its first to its last
        // (every one of them ventricular).
        let run_bpm = if kind == FindingKind::VentricularTachycardia {
            self.evidence(lead, finding.start_s, finding.end_s + RUN_END_S)
                .and_then(|(ev, _)| ev.rate_bpm)
        } else {
            None
        };
        let mut evidence = Vec::new();
        for (i, c) in self.channels.iter().enumerate() {
            if i == lead {
                continue;
            }
            let Some((during, has_signal)) = self.evidence(i, from_s, now_s) else {
                continue;
            };
            let before = self
                .evidence(i, before_from, from_s)
                .and_then(|(ev, ok)| ok.then_some(ev));
            let classed = (kind == FindingKind::VentricularTachycardia
                && c.kind == ChannelKind::Ecg
                && has_signal)
                .then(|| self.classed_run(lead, finding, i))
                .flatten();
            // Kept in the evidence only when the classes decided.
            let by_class = classed.and_then(|c| Some((c, c.says(&during, before.as_ref())?)));
            let classed = by_class.map(|(c, _)| c);
            let says = match by_class {
                Some((_, says)) => says,
                None if has_signal => judge(kind, c.kind, &during, before.as_ref(), run_bpm),
                None => Says::Unusable,
            };
            evidence.push(ChannelEvidence {
                channel: c.name.clone(),
                kind: c.kind,
                says,
                rate_bpm: during.rate_bpm,
                longest_gap_s: during.longest_gap_s,
                classed,
            });
        }
        let verdict = verdict_of(kind, &evidence);
        Decision {
            verdict,
            lead: self.channels[lead].name.clone(),
            finding: finding.clone(),
            at_s: now_s,
            evidence,
        }
    }

    /// How lead `other` classed the beats of lead `lead`'s VT run.
    fn classed_run(&self, lead: usize, finding: &Finding, other: usize) -> Option<ClassedBeats> {
        let (Analyser::Lead(l), Analyser::Lead(o)) =
            (&self.analysers[lead], &self.analysers[other])
        else {
            return None;
        };
        let at = |i: usize, sample: usize| self.offsets[i] + sample as f64 / self.channels[i].fs_hz;
        let mut c = ClassedBeats {
            run: 0,
            matched: 0,
            normal: 0,
            ventricular: 0,
        };
        for b in l
            .beats
            .iter()
            .filter(|b| (finding.start_sample..=finding.end_sample).contains(&b.onset))
        {
            c.run += 1;
            let t = at(lead, b.onset);
            let same = o
                .classes
                .iter()
                .map(|&(s, class)| ((at(other, s) - t).abs(), class))
                .filter(|(d, _)| *d <= SAME_BEAT_S)
                .min_by(|a, b| a.0.total_cmp(&b.0));
            if let Some((_, class)) = same {
                c.matched += 1;
                match class {
                    BeatClass::Normal => c.normal += 1,
                    BeatClass::Ventricular => c.ventricular += 1,
                    BeatClass::Unknown => {}
                }
            }
        }
        (c.run > 0).then_some(c)
    }

    /// Channel `i`'s beats or pulses between two times, and whether it had
    /// signal over the span (a lead not marked unusable; a pulse channel
    /// with under 5 % of the span missing or not yet delivered).
    fn evidence(&self, i: usize, from_s: f64, to_s: f64) -> Option<(PulseEvidence, bool)> {
        let fs = self.channels[i].fs_hz;
        let off = self.offsets[i];
        // On the channel's own samples (before its start: its sample 0).
        let from = ((from_s - off) * fs).max(0.0) as usize;
        let to = ((to_s - off) * fs).max(0.0) as usize;
        if to <= from {
            return None;
        }
        Some(match &self.analysers[i] {
            Analyser::Lead(l) => {
                // Another lead is judged on what it has been fed: seconds
                // not yet delivered are no pause. One further behind than
                // `MAX_LAG_S` cannot say (its tail would read as a pause
                // and agree with an asystole it never saw).
                let seen = l.stream.samples_seen();
                let lagging = seen + ((MAX_LAG_S * fs) as usize) < to;
                let to = to.min(seen);
                if to <= from {
                    return None;
                }
                let beats: Vec<Pulse> = l.beats.iter().copied().collect();
                (
                    PulseEvidence::over(&beats, from, to, 0, fs),
                    !l.unusable && !lagging,
                )
            }
            Analyser::Pulse(p) => {
                // Channels arrive at their own pace: judge what this one
                // has delivered, unless it lags by more than `MAX_LAG_S`
                // (then its missing tail counts as absent signal and it is
                // unusable).
                let seen = p.detector.samples_seen();
                let to = if seen + (MAX_LAG_S * fs) as usize >= to {
                    to.min(seen)
                } else {
                    to
                };
                if to <= from {
                    return None;
                }
                let missing: usize = p
                    .blocks
                    .iter()
                    .map(|&(s, n, m)| {
                        let lo = s.max(from);
                        let hi = (s + n).min(to);
                        if hi <= lo || n == 0 {
                            0
                        } else {
                            m * (hi - lo) / n
                        }
                    })
                    .sum();
                let covered: usize = p
                    .blocks
                    .iter()
                    .map(|&(s, n, _)| (s + n).min(to).saturating_sub(s.max(from)))
                    .sum();
                let absent = to.saturating_sub(from).saturating_sub(covered);
                let pulses: Vec<Pulse> = p.pulses.iter().copied().collect();
                let ev = PulseEvidence::over(&pulses, from, to, missing + absent, fs);
                let ok = ev.missing_share < 0.05;
                (ev, ok)
            }
        })
    }
}

/// The verdict on a finding of `kind` from what the other channels said.
/// Any contradiction suppresses a finding, but VT and VF only when no
/// channel agrees (the rule errs towards alarming). Beside a pulse that
/// contradicts a VT, another lead whose rhythm was disturbed is no
/// agreement: motion artefact reaches every lead at once, never the pulse
/// (Challenge 2015 a225l, b314s, f440s: runs on one lead "confirmed" by
/// another lead's disturbed beats while pleth and ABP beat on, regular at
/// their rate before).
fn verdict_of(kind: FindingKind, evidence: &[ChannelEvidence]) -> Verdict {
    let contradicting = evidence.iter().any(|e| e.says == Says::Contradicts);
    let ventricular = matches!(
        kind,
        FindingKind::VentricularTachycardia | FindingKind::VentricularFibrillation
    );
    let pulse_contradicts = kind == FindingKind::VentricularTachycardia
        && evidence
            .iter()
            .any(|e| e.says == Says::Contradicts && e.kind.is_pulsatile());
    let agreeing = evidence
        .iter()
        .any(|e| e.says == Says::Agrees && (e.kind.is_pulsatile() || !pulse_contradicts));
    if contradicting && !(ventricular && agreeing) {
        Verdict::Suppressed
    } else {
        Verdict::Confirmed
    }
}

/// What a channel's beats or pulses over the finding's span (`ev`) say of
/// it; `before` is the same channel over the seconds before the span.
///
/// - Asystole (no beat for ≥ 4 s): contradicted by pulses throughout
///   ([`PulseEvidence::is_present`]: no pause of [`ASYSTOLE_GAP_S`]).
/// - Extreme bradycardia (< 40 /min for 5 beats): contradicted by a regular
///   rate of at least 50 /min — the ECG missed beats.
/// - Extreme tachycardia (> 140 /min for 17 beats): contradicted by a
///   regular rate of at most 110 /min — the ECG counted noise. An irregular
///   pulse (a pulse deficit in fast AF) is no contradiction.
/// - VF/flutter (no cardiac output): contradicted by pulses throughout at
///   up to 150 /min with no pause of 2 s. Faster "pulses" on a pleth are
///   more likely tremor than perfusion; a regular arterial pressure pulse
///   contradicts VF up to 220 /min (`VF_PULSE_BPM`).
/// - VT: contradicted only when the pulse (or another lead's beats) over
///   the run is regular and steady, within 15 % of its rate before the run
///   — undisturbed, as no run of ventricular beats leaves it — and either
///   under 100 /min or over 15 % faster than the run's own beats
///   (`run_bpm`). Each pulse during a VT is a ventricular beat of the run
///   (a beat that does not perfuse leaves a pulse deficit, never an extra
///   pulse), so a steady pulse faster than the run says the lead counted
///   something other than the heart's beats. A regular pulse that changed
///   or stopped agrees; one irregular before the run, or one that had no
///   pulse before it either (a pleth off the finger), cannot tell.
///
/// For VT and VF another lead counts like a pulse channel, but for VF only
/// when its beats are organised: regular and steady, or discrete complexes
/// at up to `VF_DISCRETE_BPM`.
fn judge(
    kind: FindingKind,
    channel: ChannelKind,
    ev: &PulseEvidence,
    before: Option<&PulseEvidence>,
    run_bpm: Option<f64>,
) -> Says {
    let rate = ev.rate_bpm.unwrap_or(0.0);
    match kind {
        FindingKind::Asystole => {
            if ev.is_present(ASYSTOLE_GAP_S) {
                Says::Contradicts
            } else if ev.longest_gap_s >= ASYSTOLE_GAP_S {
                // The pulse paused too.
                Says::Agrees
            } else if ev.pulses >= MIN_EVIDENCE {
                Says::Inconclusive
            } else {
                Says::Unusable
            }
        }
        FindingKind::ExtremeBradycardia => {
            if !ev.is_good() {
                Says::Unusable
            } else if rate >= 50.0 {
                Says::Contradicts
            } else {
                Says::Agrees
            }
        }
        FindingKind::ExtremeTachycardia => {
            if !ev.is_good() {
                Says::Unusable
            } else if rate <= 110.0 {
                Says::Contradicts
            } else {
                Says::Agrees
            }
        }
        FindingKind::VentricularFibrillation => {
            // Another lead must show an organised rhythm, not just beats:
            // a beat detector finds "beats" in VF too. Regular beats are
            // organised; so are slow discrete ones (`VF_DISCRETE_BPM`), as
            // a slow escape or sinus rhythm with varying intervals.
            // A slow organised rhythm may pause longer than `VF_GAP_S`
            // between beats: one and a half intervals are allowed.
            let max_gap = VF_GAP_S.max(1.5 * 60.0 / rate.max(1.0));
            let organised = channel.is_pulsatile() || ev.is_good() || rate <= VF_DISCRETE_BPM;
            // Faster than `VF_PULSE_BPM` only an arterial line's regular
            // pulse counts: pressure, which no tremor makes.
            let fast_pressure = channel == ChannelKind::Abp && ev.is_good();
            if organised && ev.is_present(max_gap) && (rate <= VF_PULSE_BPM || fast_pressure) {
                Says::Contradicts
            } else if ev.longest_gap_s >= NO_PULSE_S {
                Says::Agrees
            } else if ev.pulses >= MIN_EVIDENCE {
                Says::Inconclusive
            } else {
                Says::Unusable
            }
        }
        FindingKind::VentricularTachycardia => {
            let undisturbed = before.is_some_and(|b| {
                b.is_good()
                    && b.rate_bpm
                        .is_some_and(|r| (rate - r).abs() <= VT_RATE_CHANGE * r)
            });
            let faster_than_run = run_bpm.is_some_and(|r| rate > (1.0 + VT_RATE_CHANGE) * r);
            // Another lead's newest beat is not out yet: its detector
            // holds each beat up to `BEAT_LATENCY_S`, which the span's end
            // would otherwise count as a pause.
            let lag_s = if channel.is_pulsatile() {
                0.0
            } else {
                BEAT_LATENCY_S
            };
            let strong = ev.pulses >= 3
                && ev.regular_share >= 1.0
                && ev.steady_share >= 1.0
                && (rate < 100.0 || faster_than_run)
                && ev.longest_gap_s < 1.5 * 60.0 / rate.max(1.0) + lag_s
                && undisturbed;
            // A channel without pulses before the run too (a pleth off the
            // finger) says nothing of the run by having none during it.
            let had_pulse = before.is_some_and(|b| b.pulses >= MIN_EVIDENCE);
            if strong {
                Says::Contradicts
            } else if ev.pulses < 2 && (ev.longest_gap_s < NO_PULSE_S || !had_pulse) {
                Says::Unusable
            } else if before.is_some_and(PulseEvidence::is_good)
                || (ev.longest_gap_s >= NO_PULSE_S && had_pulse)
            {
                // Regular before, disturbed or gone now.
                Says::Agrees
            } else {
                Says::Inconclusive
            }
        }
        _ => Says::Unusable,
    }
}

/// What [`analyze_bedside`] reports of a recording: the channels analysed
/// and every decision on a life-threatening finding, in time order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BedsideReport {
    pub channels: Vec<Channel>,
    pub decisions: Vec<Decision>,
}

impl std::fmt::Display for BedsideReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.channels.iter().map(|c| c.name.as_str()).collect();
        writeln!(f, "life-threatening findings over {}:", names.join(", "))?;
        if self.decisions.is_empty() {
            writeln!(f, "  none")?;
        }
        for d in &self.decisions {
            writeln!(f, "  {:8.1} s  {}", d.at_s, d.summary())?;
        }
        Ok(())
    }
}

/// Runs a whole recording through a [`BedsideStream`] the way the runtime
/// feeds it: one-second blocks, every channel in turn. `data[i]` holds the
/// samples of `channels[i]`.
pub fn analyze_bedside(channels: Vec<Channel>, data: &[Vec<f64>]) -> Result<BedsideReport> {
    let mut stream = BedsideStream::new(channels.clone())?;
    let mut decisions = Vec::new();
    let mut at = vec![0usize; data.len()];
    loop {
        let mut fed = false;
        for (i, x) in data.iter().enumerate() {
            let block = (channels[i].fs_hz.round() as usize).max(1);
            if at[i] >= x.len() {
                continue;
            }
            let end = (at[i] + block).min(x.len());
            let u = stream.push(i, &x[at[i]..end])?;
            at[i] = end;
            fed = true;
            decisions.extend(u.events.into_iter().filter_map(|e| match e {
                BedsideEvent::Decision(d) => Some(d),
                BedsideEvent::End { .. } => None,
            }));
        }
        if !fed {
            break;
        }
    }
    Ok(BedsideReport {
        channels,
        decisions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FS: f64 = 250.0;

    /// A lead: a 1 mV, 80 ms QRS-like spike at each beat time over a slow
    /// 30 µV baseline wander (a living lead, not a flat line).
    fn ecg(seconds: f64, beats: &[f64]) -> Vec<f64> {
        let n = (seconds * FS) as usize;
        let mut x: Vec<f64> = (0..n).map(|i| 0.03 * (i as f64 * 0.02).sin()).collect();
        for &t in beats {
            let c = (t * FS) as usize;
            for k in 0..20usize {
                let i = c + k;
                if i >= 10 && i - 10 < n {
                    let tri = 1.0 - ((k as f64) - 10.0).abs() / 10.0;
                    x[i - 10] += tri;
                }
            }
        }
        x
    }

    /// An arterial pressure with a pulse 200 ms after each beat time.
    fn abp(seconds: f64, beats: &[f64]) -> Vec<f64> {
        let n = (seconds * FS) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / FS;
                let last = beats.iter().rev().find(|&&b| b + 0.2 <= t);
                match last {
                    None => 80.0,
                    Some(&b) => {
                        let dt = t - b - 0.2;
                        if dt < 0.15 {
                            80.0 + 40.0 * dt / 0.15
                        } else {
                            80.0 + 40.0 * (-(dt - 0.15) / 0.35).exp()
                        }
                    }
                }
            })
            .collect()
    }

    fn beats(from: f64, to: f64, every: f64) -> Vec<f64> {
        let mut v = Vec::new();
        let mut t = from;
        while t < to {
            v.push(t);
            t += every;
        }
        v
    }

    fn channels(with_abp: bool) -> Vec<Channel> {
        let mut c = vec![Channel {
            name: "II".into(),
            kind: ChannelKind::Ecg,
            fs_hz: FS,
        }];
        if with_abp {
            c.push(Channel {
                name: "ABP".into(),
                kind: ChannelKind::Abp,
                fs_hz: FS,
            });
        }
        c
    }

    fn asystole_decisions(report: &BedsideReport) -> Vec<&Decision> {
        report
            .decisions
            .iter()
            .filter(|d| d.finding.kind == FindingKind::Asystole)
            .collect()
    }

    /// A steady pulse at `bpm` over a VT span: 10 pulses, all regular.
    fn steady_pulse(bpm: f64) -> PulseEvidence {
        PulseEvidence {
            pulses: 10,
            rate_bpm: Some(bpm),
            regular_share: 1.0,
            steady_share: 1.0,
            longest_gap_s: 60.0 / bpm,
            missing_share: 0.0,
        }
    }

    #[test]
    fn a_steady_pulse_faster_than_the_vt_run_contradicts_it_and_one_at_its_rate_does_not() {
        let vt = FindingKind::VentricularTachycardia;
        let (during, before) = (steady_pulse(134.0), steady_pulse(133.0));
        // The lead's run at 107 /min; the line beats on, undisturbed, at
        // 134: the heart is not beating at the run's rate.
        assert_eq!(
            judge(vt, ChannelKind::Abp, &during, Some(&before), Some(107.0)),
            Says::Contradicts
        );
        // A run at the pulse's own rate (a VT with a pulse) or a rate the
        // run's beats do not give: the steady pulse does not contradict.
        for run in [Some(130.0), Some(150.0), None] {
            assert_eq!(
                judge(vt, ChannelKind::Abp, &during, Some(&before), run),
                Says::Agrees,
                "run at {run:?}"
            );
        }
        // A pulse that changed its rate at the run is disturbed by it.
        assert_eq!(
            judge(
                vt,
                ChannelKind::Abp,
                &during,
                Some(&steady_pulse(90.0)),
                Some(107.0)
            ),
            Says::Agrees
        );
    }

    /// Another lead's beats over a VF finding: slow discrete complexes
    /// contradict it even when their intervals vary (a slow escape rhythm
    /// beside a lead shaken by artefact, as Challenge 2015 f190s); the same
    /// irregularity at a fibrillatory rate, a lead with too few beats and
    /// one that stopped beating do not.
    #[test]
    fn slow_discrete_beats_on_another_lead_contradict_vf_and_fast_irregular_ones_do_not() {
        let vf = FindingKind::VentricularFibrillation;
        // Intervals of 1.5-2.1 s: 4 of 7 within 20 % of the median.
        let slow = PulseEvidence {
            pulses: 8,
            rate_bpm: Some(36.0),
            regular_share: 4.0 / 7.0,
            steady_share: 1.0,
            longest_gap_s: 2.1,
            missing_share: 0.0,
        };
        assert!(!slow.is_good());
        assert_eq!(
            judge(vf, ChannelKind::Ecg, &slow, None, None),
            Says::Contradicts
        );
        let fast = PulseEvidence {
            pulses: 40,
            rate_bpm: Some(220.0),
            longest_gap_s: 0.5,
            ..slow
        };
        assert_eq!(
            judge(vf, ChannelKind::Ecg, &fast, None, None),
            Says::Inconclusive
        );
        // Irregular beyond half its intervals: no rhythm to speak of.
        let scattered = PulseEvidence {
            regular_share: 0.3,
            ..slow
        };
        assert_eq!(
            judge(vf, ChannelKind::Ecg, &scattered, None, None),
            Says::Inconclusive
        );
        let stopped = PulseEvidence {
            pulses: 3,
            longest_gap_s: 6.0,
            ..slow
        };
        assert_eq!(
            judge(vf, ChannelKind::Ecg, &stopped, None, None),
            Says::Agrees
        );
    }

    /// A VF call beside a regular pulse at 160 /min: an arterial line's
    /// pressure pulse says the heart pumps; a pleth's "pulses" that fast
    /// may be tremor and cannot tell, nor can an irregular arterial pulse.
    #[test]
    fn a_regular_arterial_pulse_faster_than_150_contradicts_vf_and_a_pleth_does_not() {
        let vf = FindingKind::VentricularFibrillation;
        let fast = steady_pulse(160.0);
        assert!(fast.is_good());
        assert_eq!(
            judge(vf, ChannelKind::Abp, &fast, None, None),
            Says::Contradicts
        );
        assert_eq!(
            judge(vf, ChannelKind::Pleth, &fast, None, None),
            Says::Inconclusive
        );
        assert_eq!(
            judge(vf, ChannelKind::Ecg, &fast, None, None),
            Says::Inconclusive
        );
        let irregular = PulseEvidence {
            regular_share: 0.6,
            ..fast
        };
        assert_eq!(
            judge(vf, ChannelKind::Abp, &irregular, None, None),
            Says::Inconclusive
        );
        // At 140 /min any regular pulse contradicts it, as before.
        assert_eq!(
            judge(vf, ChannelKind::Pleth, &steady_pulse(140.0), None, None),
            Says::Contradicts
        );
    }

    /// Another lead's classes contradict a VT run only when it classed
    /// all but one of the run's beats, all normal, and its rhythm went on
    /// regular at the rate it had.
    #[test]
    fn another_lead_contradicts_vt_only_with_normal_beats_in_an_undisturbed_rhythm() {
        let all_normal = ClassedBeats {
            run: 6,
            matched: 5,
            normal: 5,
            ventricular: 0,
        };
        let before = steady_pulse(98.0);
        let during = steady_pulse(104.0);
        assert_eq!(
            all_normal.says(&during, Some(&before)),
            Some(Says::Contradicts)
        );
        // A ventricular beat among them, or two of the run's beats unseen.
        let one_v = ClassedBeats {
            normal: 4,
            ventricular: 1,
            ..all_normal
        };
        assert_eq!(one_v.says(&during, Some(&before)), None);
        let unseen = ClassedBeats {
            matched: 4,
            normal: 4,
            ..all_normal
        };
        assert_eq!(unseen.says(&during, Some(&before)), None);
        // Irregular (AF with aberrant beats), faster than before, or no
        // rhythm before to compare with.
        let irregular = PulseEvidence {
            regular_share: 0.5,
            ..during
        };
        assert_eq!(all_normal.says(&irregular, Some(&before)), None);
        assert_eq!(all_normal.says(&steady_pulse(130.0), Some(&before)), None);
        assert_eq!(all_normal.says(&during, None), None);
    }

    /// A VT against a steady pulse is suppressed even when another lead's
    /// rhythm was disturbed (artefact reaches every lead); a pulse that
    /// was disturbed too keeps it, and beside no pulse a disturbed lead
    /// still outweighs another lead's contradiction.
    #[test]
    fn a_disturbed_lead_does_not_outweigh_a_pulse_that_contradicts_a_vt() {
        let said = |channel: &str, kind: ChannelKind, says: Says| ChannelEvidence {
            channel: channel.into(),
            kind,
            says,
            rate_bpm: Some(80.0),
            longest_gap_s: 0.8,
            classed: None,
        };
        let vt = FindingKind::VentricularTachycardia;
        let pleth = said("PLETH", ChannelKind::Pleth, Says::Contradicts);
        let lead = said("III", ChannelKind::Ecg, Says::Agrees);
        assert_eq!(
            verdict_of(vt, &[lead.clone(), pleth.clone()]),
            Verdict::Suppressed
        );
        let abp = said("ABP", ChannelKind::Abp, Says::Agrees);
        assert_eq!(
            verdict_of(vt, &[lead.clone(), pleth.clone(), abp]),
            Verdict::Confirmed
        );
        let other_lead = said("V", ChannelKind::Ecg, Says::Contradicts);
        assert_eq!(
            verdict_of(vt, &[lead.clone(), other_lead]),
            Verdict::Confirmed
        );
        // VF keeps the rule it had: any agreement keeps it.
        let vf = FindingKind::VentricularFibrillation;
        assert_eq!(verdict_of(vf, &[lead, pleth.clone()]), Verdict::Confirmed);
        // Any other finding: a contradiction suppresses it.
        assert_eq!(
            verdict_of(FindingKind::Asystole, &[pleth]),
            Verdict::Suppressed
        );
    }

    #[test]
    fn a_lead_that_loses_its_beats_while_the_pulse_beats_is_suppressed_and_says_why() {
        // 75 /min throughout; the ECG loses its beats (a lead whose QRS
        // shrank into the baseline) from 30 s while the arterial line keeps
        // beating.
        let all = beats(0.5, 60.0, 0.8);
        let ecg_beats: Vec<f64> = all.iter().copied().filter(|&t| t < 30.0).collect();
        let data = vec![ecg(60.0, &ecg_beats), abp(60.0, &all)];
        let report = analyze_bedside(channels(true), &data).expect("analyses");
        let asys = asystole_decisions(&report);
        assert!(!asys.is_empty(), "the ECG alone says asystole: {report}");
        assert!(
            asys.iter().all(|d| d.verdict == Verdict::Suppressed),
            "{report}"
        );
        let text = asys[0].summary();
        assert!(text.contains("ABP pulse at 75 /min"), "{text}");
        assert!(text.contains("suppressed"), "{text}");
    }

    #[test]
    fn a_pulse_channel_that_joins_late_is_judged_on_the_beds_time() {
        // The lead streams from 0 s; the arterial line is connected at 12 s
        // (its sample 0 is 12 s into the bed's time). The lead loses its
        // beats at 40 s while the heart beats on at 75 /min.
        let all = beats(0.5, 70.0, 0.8);
        let ecg_beats: Vec<f64> = all.iter().copied().filter(|&t| t < 40.0).collect();
        let lead = ecg(70.0, &ecg_beats);
        let late: Vec<f64> = all.iter().map(|t| t - 12.0).filter(|&t| t > 0.0).collect();
        let line = abp(58.0, &late);
        let mut bed = BedsideStream::new(channels(false)).expect("a bed");
        let mut decisions = Vec::new();
        for second in 0..70usize {
            let block = |x: &[f64], s: usize| -> Vec<f64> {
                x.get(s * 250..(s + 1) * 250).unwrap_or(&[]).to_vec()
            };
            if second == 12 {
                let abp = Channel {
                    name: "ABP".into(),
                    kind: ChannelKind::Abp,
                    fs_hz: FS,
                };
                assert_eq!(bed.add_channel(abp, 12.0).expect("added"), 1);
            }
            if second >= 12 {
                bed.push(1, &block(&line, second - 12)).expect("pushed");
            }
            let u = bed.push(0, &block(&lead, second)).expect("pushed");
            decisions.extend(u.events.into_iter().filter_map(|e| match e {
                BedsideEvent::Decision(d) if d.finding.kind == FindingKind::Asystole => Some(d),
                _ => None,
            }));
        }
        assert!(!decisions.is_empty(), "the lead alone says asystole");
        let first = &decisions[0];
        assert_eq!(first.verdict, Verdict::Suppressed, "{}", first.summary());
        assert!(
            first.summary().contains("ABP pulse at 75 /min"),
            "{}",
            first.summary()
        );
        assert!(
            (39.0..46.0).contains(&first.finding.start_s),
            "the finding is placed on the bed's time: {}",
            first.finding.start_s
        );
        // A restarted pulse channel starts empty: what it knew is gone, so
        // it can no longer contradict, and the alarm stands after the hold.
        bed.restart_channel(1, FS, 70.0).expect("restarted");
        assert!(bed.restart_channel(5, FS, 70.0).is_err());
    }

    #[test]
    fn a_decision_waits_for_the_pulse_block_still_on_its_way() {
        // A true asystole from 30 s; each 2-s block of the lead arrives
        // before the arterial line's block of the same seconds. Judged at
        // once, the line would still show the pulses before the stop.
        let all = beats(0.5, 30.0, 0.8);
        let (lead, line) = (ecg(60.0, &all), abp(60.0, &all));
        let mut bed = BedsideStream::new(channels(true)).expect("a bed");
        let mut verdicts = Vec::new();
        for k in 0..30usize {
            for (i, x) in [(0, &lead), (1, &line)] {
                let u = bed.push(i, &x[k * 500..(k + 1) * 500]).expect("pushed");
                verdicts.extend(u.events.into_iter().filter_map(|e| match e {
                    BedsideEvent::Decision(d) if d.finding.kind == FindingKind::Asystole => {
                        Some(d.verdict)
                    }
                    _ => None,
                }));
            }
        }
        assert_eq!(verdicts, vec![Verdict::Confirmed]);
    }

    #[test]
    fn a_decision_waits_for_the_other_leads_block_still_on_its_way() {
        // Lead II loses its beats at 30 s (its electrode came off) while V
        // beats on; each 4-s block of II arrives before V's block of the
        // same seconds. Judged at once, V would show no beat for the last
        // block's seconds and agree with the asystole.
        let all = beats(0.5, 60.0, 0.8);
        let before: Vec<f64> = all.iter().copied().filter(|&t| t < 30.0).collect();
        let (ii, v) = (ecg(60.0, &before), ecg(60.0, &all));
        let leads = ["II", "V"].map(|name| Channel {
            name: name.into(),
            kind: ChannelKind::Ecg,
            fs_hz: FS,
        });
        let mut bed = BedsideStream::new(leads.to_vec()).expect("a bed");
        let block = (4.0 * FS) as usize;
        let mut decisions = Vec::new();
        for k in 0..15usize {
            for (i, x) in [(0, &ii), (1, &v)] {
                let u = bed.push(i, &x[k * block..(k + 1) * block]).expect("pushed");
                decisions.extend(u.events.into_iter().filter_map(|e| match e {
                    BedsideEvent::Decision(d) if d.finding.kind == FindingKind::Asystole => Some(d),
                    _ => None,
                }));
            }
        }
        assert!(!decisions.is_empty(), "II's lost beats read as asystole");
        for d in &decisions {
            assert_eq!(d.verdict, Verdict::Suppressed, "{}", d.summary());
            assert!(d.summary().contains("V beats at"), "{}", d.summary());
        }
    }

    #[test]
    fn the_heart_rate_comes_from_the_pulse_while_the_lead_has_no_beats() {
        // 75 /min; the lead loses its beats at 30 s, the line beats on.
        let all = beats(0.5, 60.0, 0.8);
        let ecg_beats: Vec<f64> = all.iter().copied().filter(|&t| t < 30.0).collect();
        let (lead, line) = (ecg(60.0, &ecg_beats), abp(60.0, &all));
        let mut bed = BedsideStream::new(channels(true)).expect("a bed");
        let mut rates = Vec::new();
        for k in 0..60usize {
            bed.push(1, &line[k * 250..(k + 1) * 250]).expect("pushed");
            let u = bed.push(0, &lead[k * 250..(k + 1) * 250]).expect("pushed");
            rates.push(bed.heart_rate(0, u.ecg.and_then(|e| e.hr_bpm)));
        }
        let (from, hr) = rates[25].expect("a rate at 25 s");
        assert_eq!(from, 0, "the beating lead's own meter");
        assert!((hr - 75.0).abs() < 2.0, "{hr}");
        let (from, hr) = rates[45].expect("a rate at 45 s");
        assert_eq!(from, 1, "the pulse, while the lead shows no beat");
        assert!((hr - 75.0).abs() < 2.0, "{hr}");
        // Without a pulse channel the lead's decaying reading is all there is.
        let mut alone = BedsideStream::new(channels(false)).expect("a bed");
        let mut last = None;
        for k in 0..60usize {
            let u = alone
                .push(0, &lead[k * 250..(k + 1) * 250])
                .expect("pushed");
            last = alone.heart_rate(0, u.ecg.and_then(|e| e.hr_bpm));
        }
        assert!(last.is_some_and(|(i, hr)| i == 0 && hr < 10.0), "{last:?}");
    }

    #[test]
    fn a_pulse_stream_that_always_lags_never_holds_the_decision_back() {
        // The line's blocks always arrive 3 s after the lead's: never
        // caught up with the lead, never stalled. A true asystole from 30 s
        // must still be decided, as soon as the line has the seconds it was
        // found in, and not suppressed by the old pulses.
        let all = beats(0.5, 30.0, 0.8);
        let (lead, line) = (ecg(60.0, &all), abp(60.0, &all));
        let mut bed = BedsideStream::new(channels(true)).expect("a bed");
        let mut decided = Vec::new();
        for k in 0..60usize {
            let mut events = bed
                .push(0, &lead[k * 250..(k + 1) * 250])
                .expect("pushed")
                .events;
            if k >= 3 {
                let j = k - 3;
                events.extend(
                    bed.push(1, &line[j * 250..(j + 1) * 250])
                        .expect("pushed")
                        .events,
                );
            }
            for e in events {
                if let BedsideEvent::Decision(d) = e
                    && d.finding.kind == FindingKind::Asystole
                {
                    decided.push((k, d.verdict));
                }
            }
        }
        assert_eq!(decided.len(), 1, "{decided:?}");
        let (at, verdict) = decided[0];
        assert_eq!(verdict, Verdict::Confirmed);
        // Found with the lead's block 33 (4 s without a beat), decided
        // once the line has delivered those seconds, 3 blocks later — not
        // after the whole `WAIT_S` (block 38).
        assert!(at <= 33 + 3, "decided with block {at}");
    }

    #[test]
    fn a_true_asystole_without_a_pulse_is_confirmed_by_the_pulse() {
        let all = beats(0.5, 30.0, 0.8);
        let data = vec![ecg(60.0, &all), abp(60.0, &all)];
        let report = analyze_bedside(channels(true), &data).expect("analyses");
        let asys = asystole_decisions(&report);
        assert_eq!(asys.len(), 1, "{report}");
        assert_eq!(asys[0].verdict, Verdict::Confirmed);
        assert!(
            asys[0].summary().contains("ABP no pulse"),
            "{}",
            asys[0].summary()
        );
    }

    #[test]
    fn without_a_pulse_channel_the_ecg_decides_alone() {
        let all = beats(0.5, 30.0, 0.8);
        let report = analyze_bedside(channels(false), &[ecg(60.0, &all)]).expect("analyses");
        let asys = asystole_decisions(&report);
        assert_eq!(asys.len(), 1, "{report}");
        assert_eq!(asys[0].verdict, Verdict::Confirmed);
        assert!(
            asys[0].summary().ends_with("ECG only"),
            "{}",
            asys[0].summary()
        );
    }

    #[test]
    fn a_pulse_that_stops_after_a_suppression_raises_the_alarm() {
        // The lead loses its beats at 30 s; the pulse goes on until 45 s, then
        // stops too: the suppressed asystole becomes a confirmed one.
        let all = beats(0.5, 45.0, 0.8);
        let ecg_beats: Vec<f64> = all.iter().copied().filter(|&t| t < 30.0).collect();
        let data = vec![ecg(70.0, &ecg_beats), abp(70.0, &all)];
        let report = analyze_bedside(channels(true), &data).expect("analyses");
        let verdicts: Vec<Verdict> = asystole_decisions(&report)
            .iter()
            .map(|d| d.verdict)
            .collect();
        assert_eq!(
            verdicts,
            [Verdict::Suppressed, Verdict::Confirmed],
            "{report}"
        );
    }

    #[test]
    fn an_unknown_channel_is_an_error_not_a_panic() {
        let mut stream = BedsideStream::new(channels(true)).expect("channels");
        let e = stream.push(2, &[0.0; 10]).expect_err("no channel 2");
        assert!(e.to_string().contains("channel 2"), "{e}");
        assert!(
            BedsideStream::new(vec![Channel {
                name: "PLETH".into(),
                kind: ChannelKind::Pleth,
                fs_hz: f64::NAN,
            }])
            .is_err()
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Whatever arrives (missing, infinite, absurd values, empty or
        /// uneven blocks, channels at different rates and paces), the
        /// stream neither panics nor decides on a finding that has no lead.
        #[test]
        fn any_input_is_taken_without_panic(
            blocks in proptest::collection::vec(
                (0usize..3, proptest::collection::vec(
                    proptest::prop_oneof![
                        -5.0f64..5.0,
                        proptest::strategy::Just(f64::NAN),
                        proptest::strategy::Just(f64::INFINITY),
                        proptest::strategy::Just(-1e12),
                        proptest::strategy::Just(300.0),
                    ],
                    0..400,
                )),
                1..120,
            )
        ) {
            let mut stream = BedsideStream::new(vec![
                Channel { name: "II".into(), kind: ChannelKind::Ecg, fs_hz: 250.0 },
                Channel { name: "PLETH".into(), kind: ChannelKind::Pleth, fs_hz: 125.0 },
                Channel { name: "ABP".into(), kind: ChannelKind::Abp, fs_hz: 250.0 },
            ]).expect("channels");
            for (i, block) in blocks {
                let u = stream.push(i, &block).expect("a channel of the bed");
                for e in u.events {
                    if let BedsideEvent::Decision(d) = e {
                        proptest::prop_assert_eq!(d.lead.as_str(), "II");
                        proptest::prop_assert!(is_life_threatening(d.finding.kind));
                        proptest::prop_assert!(d.at_s.is_finite());
                    }
                }
            }
        }
    }

    #[test]
    fn a_pulse_channel_of_missing_samples_is_unusable_and_the_alarm_stands() {
        let all = beats(0.5, 30.0, 0.8);
        let data = vec![ecg(60.0, &all), vec![f64::NAN; (60.0 * FS) as usize]];
        let report = analyze_bedside(channels(true), &data).expect("analyses");
        let asys = asystole_decisions(&report);
        assert_eq!(asys.len(), 1, "{report}");
        assert_eq!(asys[0].verdict, Verdict::Confirmed);
        assert_eq!(asys[0].evidence[0].says, Says::Unusable);
    }
}
