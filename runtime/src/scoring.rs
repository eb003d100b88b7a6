//! Live scoring: runs after every stored batch, on the stage thread (a
//! batch's waveforms analysed bed by bed on helper threads meanwhile).
//! Waveform blocks feed one `BedsideStream` per patient: an `EcgStream` per
//! lead (beats, heart-rate meter, rhythm events) and a pulse detector per
//! pleth or arterial line, which confirm or suppress each life-threatening
//! ECG finding (`EcgEvent::Onset` or `EcgEvent::Suppressed`); new numerics
//! recompute the patient's NEWS2 from their freshest vitals and SpO2 scale.
//! Results go to the `scores` table, where the alarm engine and the UI read
//! them. The numeric work is the pure code of `wardwatch-score`; this module
//! only keeps per-patient state and time.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use wardwatch_score::bedside::{
    BedsideEvent, BedsideStream, Channel, ChannelKind, Verdict, is_life_threatening,
};
use wardwatch_score::ecg::rhythm::{Finding, FindingKind};
use wardwatch_score::{Acvpu, Breathing, News2Input, StreamEvent};

use wardwatch_core::ingest::observation::{Body, EcgBlock, Observation};
use wardwatch_core::model::Vital;
use wardwatch_core::model::codes::{EcgLead, PulseWave};
use wardwatch_core::model::{EcgEvent, PatientRecord, ScoreDetail};
use wardwatch_core::store::charted::CHARTED_SOURCE;
use wardwatch_core::store::{IngestBatch, ScoreRow, Store, StoredBatch};

/// Vitals older than this do not count towards NEWS2 (a ward's observation
/// round is at most hourly for a patient on continuous monitoring).
pub const NEWS2_FRESH: Duration = Duration::minutes(60);
/// NEWS2 charts one observation set, not beat-to-beat values: continuous
/// vitals enter as the median of this window, so a few seconds of artefact
/// or normal variation around a band edge do not move the score.
pub const NEWS2_WINDOW: Duration = Duration::minutes(5);
/// A NEWS2 whose points, aggregate, scale and response are unchanged is
/// written again, for its charted values, at most this often: a monitored
/// patient's medians move every second, and a row each time (about 600
/// bytes) was 19 MB per patient-day of the store.
pub const NEWS2_RECHART: Duration = Duration::minutes(5);
/// A value charted by hand counts towards NEWS2 for this long after it was
/// observed (unless a monitor streams that vital): the RCP's NEWS2 (2017)
/// sets 12-hourly observations as the least frequent monitoring, so a
/// charted ACVPU or oxygen setting is current until the next round at most
/// that far away.
pub const CHARTED_FRESH: Duration = Duration::hours(12);
/// A heart-rate reading is stored at most this often per patient.
const HR_EVERY: Duration = Duration::seconds(10);
/// A gap in ECG longer than this restarts the analyser rather than padding.
const MAX_ECG_GAP: Duration = Duration::seconds(30);
/// Whether a patient's conditions name a pacemaker: any condition that
/// says "pacemaker" or "paced" (the simulator paces a patient whose
/// condition names a pacemaker).
pub fn is_paced(conditions: &[String]) -> bool {
    conditions.iter().any(|c| {
        let c = c.to_lowercase();
        c.contains("pacemaker") || c.contains("paced")
    })
}

/// How often (in the bed's time) a bed re-reads whether the patient's
/// record names a pacemaker, so an admin's change applies within a minute.
pub const PACED_REFRESH: Duration = Duration::seconds(60);

/// One channel of a bed: an ECG lead, a pleth or an arterial line.
struct BedChannel {
    /// Its MDC code.
    code: u32,
    /// Time of the channel's sample 0.
    origin: DateTime<Utc>,
    period_ns: i64,
    /// Samples pushed so far.
    pushed: i64,
    /// R peaks (sample indices) of the last `HRV_WINDOW`, for SDNN.
    beats: std::collections::VecDeque<usize>,
    /// The spans `[start, end)` padded with missing samples because no data
    /// came for them (a gap in arrival shorter than `MAX_ECG_GAP`), the
    /// last `GAPS_KEPT`.
    gaps: std::collections::VecDeque<(usize, usize)>,
    /// An unusable-signal finding of this lead that a gap in arrival made
    /// is open: it is not the patient's, and neither is its end — unless
    /// it is still open at the sample given (`GAP_UNUSABLE_GRACE` of
    /// received signal after the gap, which ended at the other sample).
    gap_unusable: Option<(Finding, usize, usize)>,
}

/// The padded gaps a lead keeps, to tell an unusable-signal finding that
/// lies in them (one finding spans at most a few gaps: its pause ends at
/// the first beat after them).
const GAPS_KEPT: usize = 8;

/// How long an unusable signal that began in a gap in arrival may go on
/// over received signal before it is the patient's after all (the leads
/// came off while the data was lost): the first beat after a gap ends it
/// within a second or two; a lead that is off does not.
const GAP_UNUSABLE_GRACE: Duration = Duration::seconds(10);

impl BedChannel {
    fn time_of(&self, sample: usize) -> DateTime<Utc> {
        self.origin + Duration::nanoseconds(self.period_ns.saturating_mul(sample as i64))
    }

    /// Whether at least half of `[start, end)` is padding for data that
    /// never arrived.
    fn mostly_gap(&self, start: usize, end: usize) -> bool {
        if end <= start {
            return false;
        }
        let padded: usize = self
            .gaps
            .iter()
            .map(|&(a, b)| b.min(end).saturating_sub(a.max(start)))
            .sum();
        2 * padded >= end - start
    }
}

/// A patient's streamed waveforms analysed together
/// (`wardwatch_score::bedside`): every lead, and the pleth and arterial
/// pressure that confirm or suppress a life-threatening ECG finding.
struct Bed {
    stream: BedsideStream,
    /// The bed's time 0.
    t0: DateTime<Utc>,
    /// Indexed like the stream's channels.
    channels: Vec<BedChannel>,
    /// The lead each open life-threatening finding was decided on.
    open: HashMap<FindingKind, u32>,
    /// The channel (index) on which each open rhythm finding (AF,
    /// ventricular rhythm) started; see [`Bed::rhythm_lead`].
    rhythm_open: HashMap<FindingKind, usize>,
    /// Every lead's own open rhythm findings (channel index, kind), the
    /// bed's or not: the leads that can carry on an episode its lead can
    /// no longer follow ([`Bed::heir`]), and the episodes a lead brings
    /// when it becomes the rhythm lead ([`Bed::promoted`]).
    lead_rhythm: std::collections::BTreeMap<(usize, FindingKind), Finding>,
    /// The leads (channel indices) whose signal is unusable now: the bed's
    /// `EcgSignalUnusable` lasts while any is.
    unusable: std::collections::BTreeSet<usize>,
    /// When the record was last read for a pacemaker (`PACED_REFRESH`).
    paced_read: Option<DateTime<Utc>>,
    /// When a heart rate was last stored for the patient (`HR_EVERY`).
    hr_last: Option<DateTime<Utc>>,
}

impl Bed {
    fn at(&self, s: f64) -> DateTime<Utc> {
        self.t0 + Duration::nanoseconds((s * 1e9) as i64)
    }

    fn seconds(&self, t: DateTime<Utc>) -> f64 {
        (t - self.t0).num_nanoseconds().unwrap_or(0) as f64 / 1e9
    }

    /// The lead whose rhythm findings that are not life-threatening (AF,
    /// ventricular rhythm) are the bed's: lead II where the bed streams
    /// it, else its first ECG lead; while that lead's signal is unusable,
    /// the first usable one. One lead, as the single-lead evaluation
    /// measures them: on the MIT-BIH database the second lead's AF added
    /// false AF in 2 more of the 40 records without AF (208, 223) and took
    /// AF duration +P from 86.9 % to 79.6 % (`eval_mitdb`, "either lead"),
    /// and each lead's own onsets and ends reached the alarm book unpaired
    /// (an AF onset twice, a ventricular rhythm ended by the lead that had
    /// not reported it). The life-threatening findings are the bed's
    /// decision over every lead and pulse (`BedsideStream`).
    fn rhythm_lead(&self) -> Option<usize> {
        self.leads_in_rhythm_order().first().copied()
    }

    /// The ECG leads, the rhythm lead first: usable ones before unusable
    /// ones, lead II first, then the others in the order they came.
    fn leads_in_rhythm_order(&self) -> Vec<usize> {
        let mut leads: Vec<usize> = (0..self.channels.len())
            .filter(|&i| EcgLead::from_mdc(self.channels[i].code).is_some())
            .collect();
        leads.sort_by_key(|&i| {
            (
                self.unusable.contains(&i),
                self.channels[i].code != EcgLead::II.mdc,
            )
        });
        leads
    }

    /// The lead that carries on the bed's `kind` episode when lead `from`,
    /// which held it, can no longer say (unusable, or started afresh): the
    /// first lead in rhythm order that has the same finding open itself.
    /// The patient's AF does not end on the alarm bar because the lead
    /// that first saw it came off while another lead still shows it.
    fn heir(&self, from: usize, kind: FindingKind) -> Option<usize> {
        self.leads_in_rhythm_order()
            .into_iter()
            .find(|&j| j != from && self.lead_rhythm.contains_key(&(j, kind)))
    }

    /// Whether channel `index`'s event `event` (of a finding that is not
    /// life-threatening) is the bed's: a rhythm finding's onset on the
    /// rhythm lead, its end on the lead it started on; an unusable signal's
    /// onset on the first lead to lose its signal, its end when the last
    /// lead has it back. (Each lead's own onsets and ends reached the alarm
    /// book unpaired: one lead's recovery ended the technical alarm while
    /// another lead was still unusable.) An end on a lead that is not the
    /// rhythm lead (any more) hands the episode to another lead that has
    /// it open ([`Bed::heir`]) instead of ending it; the rhythm lead's own
    /// end is the episode's.
    fn takes(&mut self, index: usize, event: &StreamEvent) -> bool {
        let rhythm = |kind| {
            matches!(
                kind,
                FindingKind::AtrialFibrillation
                    | FindingKind::AtrialFlutter
                    | FindingKind::VentricularRhythm
            )
        };
        match event {
            StreamEvent::Onset(f) if rhythm(f.kind) => {
                self.lead_rhythm.insert((index, f.kind), f.clone());
                if self.rhythm_lead() != Some(index) || self.rhythm_open.contains_key(&f.kind) {
                    return false;
                }
                self.rhythm_open.insert(f.kind, index);
                true
            }
            StreamEvent::End { kind, .. } if rhythm(*kind) => {
                self.lead_rhythm.remove(&(index, *kind));
                if self.rhythm_open.get(kind) != Some(&index) {
                    return false;
                }
                if self.rhythm_lead() != Some(index)
                    && let Some(heir) = self.heir(index, *kind)
                {
                    self.rhythm_open.insert(*kind, heir);
                    return false;
                }
                self.rhythm_open.remove(kind);
                true
            }
            StreamEvent::Onset(f) if f.kind == FindingKind::EcgSignalUnusable => {
                let first = self.unusable.is_empty();
                self.unusable.insert(index) && first
            }
            StreamEvent::End {
                kind: FindingKind::EcgSignalUnusable,
                ..
            } => self.unusable.remove(&index) && self.unusable.is_empty(),
            _ => true,
        }
    }

    /// The rhythm findings the rhythm lead has open and the bed has not,
    /// now the bed's (channel index and finding): a lead that has just
    /// become the rhythm lead (the one before it unusable) brings its own
    /// episode. Before, V1's AF beside a lead II in sinus rhythm was never
    /// raised when lead II came off, until V1's next onset.
    fn promoted(&mut self) -> Vec<(usize, Finding)> {
        // Asked after every block of every lead; only a lead with a rhythm
        // finding open has anything to bring, and most beds have none.
        if self.lead_rhythm.is_empty() {
            return Vec::new();
        }
        let Some(lead) = self
            .rhythm_lead()
            .filter(|lead| !self.unusable.contains(lead))
        else {
            return Vec::new();
        };
        let found: Vec<(usize, Finding)> = self
            .lead_rhythm
            .iter()
            .filter(|((i, kind), _)| *i == lead && !self.rhythm_open.contains_key(kind))
            .map(|((i, _), f)| (*i, f.clone()))
            .collect();
        for (i, f) in &found {
            self.rhythm_open.insert(f.kind, *i);
        }
        found
    }

    /// Channel `index` starts afresh (its analysis forgets what it found):
    /// the findings it held for the bed that now end, as the kinds to end
    /// (a rhythm episode another lead has open goes on on that lead).
    fn release(&mut self, index: usize) -> Vec<FindingKind> {
        self.lead_rhythm.retain(|&(i, _), _| i != index);
        let held: Vec<FindingKind> = self
            .rhythm_open
            .iter()
            .filter(|&(_, &i)| i == index)
            .map(|(&k, _)| k)
            .collect();
        let mut ended = Vec::new();
        for kind in held {
            match self.heir(index, kind) {
                Some(heir) => {
                    self.rhythm_open.insert(kind, heir);
                }
                None => {
                    self.rhythm_open.remove(&kind);
                    ended.push(kind);
                }
            }
        }
        if self.unusable.remove(&index) && self.unusable.is_empty() {
            ended.push(FindingKind::EcgSignalUnusable);
        }
        ended.sort();
        ended
    }
}

/// A batch's waveform blocks of one bed, in the batch's order.
struct BedWork<'a> {
    blocks: Vec<(&'a Observation, &'a EcgBlock)>,
    samples: usize,
}

/// A batch's waveforms are analysed on several threads only from this many
/// samples (8 s of one lead at 250 Hz, a few milliseconds of analysis):
/// below it, a thread costs more than it saves.
const PARALLEL_MIN_SAMPLES: usize = 2_000;

/// HRV for the risk score is taken over the last five minutes, the standard
/// short-term recording (Task Force of the ESC and NASPE, Circulation 1996).
const HRV_WINDOW: Duration = Duration::minutes(5);

/// The kind of finding an ECG stream event is about.
fn event_kind(event: &StreamEvent) -> FindingKind {
    match event {
        StreamEvent::Onset(f) => f.kind,
        StreamEvent::End { kind, .. } => *kind,
    }
}

/// How a waveform's code is analysed, and its name in alarm texts.
fn channel_of(code: u32, fs_hz: f64) -> Option<Channel> {
    if let Some(lead) = EcgLead::from_mdc(code) {
        return Some(Channel {
            name: lead.tag.to_ascii_uppercase(),
            kind: ChannelKind::Ecg,
            fs_hz,
        });
    }
    PulseWave::from_mdc(code).map(|w| Channel {
        name: w.tag.to_ascii_uppercase(),
        kind: if w.arterial {
            ChannelKind::Abp
        } else {
            ChannelKind::Pleth
        },
        fs_hz,
    })
}

/// A window keeps one reading of a vital per slot of this many seconds
/// (the slot's newest): a monitor's 1 Hz numerics enter NEWS2's median as
/// 60 readings over `NEWS2_WINDOW`, as robust to a few seconds of artefact
/// as all 300, at a fifth of the memory (issue 16: six vitals' 300
/// readings, 24 bytes each in a deque grown to 512, were 74 KB per
/// monitored patient after five minutes, 740 MB for 10,000 patients).
const VITAL_SLOT_S: i64 = 5;

/// Recent values of one vital of one patient: at most one per
/// `VITAL_SLOT_S` over `NEWS2_WINDOW`.
#[derive(Default)]
struct VitalWindow {
    recent: std::collections::VecDeque<(DateTime<Utc>, f64)>,
    last: Option<(DateTime<Utc>, f64)>,
}

impl VitalWindow {
    fn push(&mut self, at: DateTime<Utc>, v: f64) {
        if self.last.is_none_or(|(t, _)| at >= t) {
            self.last = Some((at, v));
        }
        let slot = |t: DateTime<Utc>| t.timestamp().div_euclid(VITAL_SLOT_S);
        match self.recent.back_mut() {
            Some(back) if slot(back.0) == slot(at) && at >= back.0 => *back = (at, v),
            _ => self.recent.push_back((at, v)),
        }
        // Times compared, not subtracted: chrono's subtraction was 1 % of
        // `serve` at 10,000 patients.
        let oldest = self.last.map_or(at, |(t, _)| t) - NEWS2_WINDOW;
        while self.recent.front().is_some_and(|(t, _)| *t < oldest) {
            self.recent.pop_front();
        }
    }

    /// The median of the window, else the last value if fresh enough.
    /// `now` is the patient's newest data time: a vital not measured within
    /// `NEWS2_WINDOW` of it counts only if its last value is within
    /// `NEWS2_FRESH`, and not at all after that (oxygen stopped, a probe off).
    fn value(&self, now: DateTime<Utc>) -> Option<f64> {
        // A window holds about 60 values: on the stack (a vector per call
        // was ~4 % of the stage at 10,000 patients), in a vector only
        // should it hold more (readings out of order).
        let from = now - NEWS2_WINDOW;
        let recent = self
            .recent
            .iter()
            .filter(|(t, _)| *t >= from)
            .map(|(_, v)| *v);
        let mut stack = [0.0f64; 64];
        let mut n = 0;
        let mut spilled = Vec::new();
        for v in recent {
            if let Some(slot) = stack.get_mut(n) {
                *slot = v;
            } else {
                if spilled.is_empty() {
                    spilled.extend_from_slice(&stack);
                }
                spilled.push(v);
            }
            n += 1;
        }
        let xs = if spilled.is_empty() {
            &mut stack[..n]
        } else {
            &mut spilled[..]
        };
        if !xs.is_empty() {
            // The middle selected, not the whole window sorted: the same
            // value (`total_cmp` is a total order).
            let middle = xs.len() / 2;
            return Some(*xs.select_nth_unstable_by(middle, f64::total_cmp).1);
        }
        self.last
            .filter(|(t, _)| now - *t <= NEWS2_FRESH)
            .map(|(_, v)| v)
    }
}

thread_local! {
    /// The NN intervals of the SDNN just taken, kept for the next (one
    /// allocation per thread, not per patient and second).
    static NN_SCRATCH: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One patient's recent vitals: a window of each streamed vital and the
/// newest charted value of each, in slots by [`Vital::index`]. One map
/// entry per patient, looked up by the MRN as it comes: keyed by
/// `(String, Vital)`, every reading and every score copied the MRN to look
/// a vital up (~15 % of the stage at 10,000 patients).
#[derive(Default)]
struct PatientVitals {
    windows: [VitalWindow; Vital::ALL.len()],
    charted: [Option<(DateTime<Utc>, f64)>; Vital::ALL.len()],
}

impl PatientVitals {
    /// Keeps the newest charted value of `vital`.
    fn chart(&mut self, vital: Vital, at: DateTime<Utc>, value: f64) {
        let slot = &mut self.charted[vital.index()];
        if slot.is_none_or(|(t, _)| at >= t) {
            *slot = Some((at, value));
        }
    }
}

#[derive(Default)]
pub struct LiveScorer {
    beds: HashMap<String, Bed>,
    vitals: HashMap<String, PatientVitals>,
    /// Rhythm findings active now, per patient (for the cardiac risk).
    findings: HashMap<String, Vec<wardwatch_score::ecg::rhythm::FindingKind>>,
    risk_last: HashMap<String, f64>,
    /// The NEWS2 last written per patient, and the data time it was written.
    news2_last: HashMap<String, (wardwatch_score::News2Score, DateTime<Utc>)>,
    /// Patients whose charted values were read back from the store (after a
    /// restart the in-memory ones are gone; the table still has them).
    charted_loaded: HashSet<String>,
}

impl std::fmt::Debug for LiveScorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveScorer")
            .field("beds", &self.beds.len())
            .finish()
    }
}

impl crate::pipeline::Stage for LiveScorer {
    fn after_batch(
        &mut self,
        store: &Store,
        batch: &IngestBatch,
        stored: &StoredBatch,
    ) -> Vec<ScoreRow> {
        self.score_batch(store, batch, stored)
    }

    fn tick(&mut self, _store: &Store, _now: DateTime<Utc>) {}
}

impl LiveScorer {
    /// Scores what `stored` added and returns the rows for the store (the
    /// writer stores them with its next batch); errors are logged, never
    /// stop ingestion.
    #[must_use = "the rows are stored by the caller"]
    pub fn score_batch(
        &mut self,
        store: &Store,
        batch: &IngestBatch,
        stored: &StoredBatch,
    ) -> Vec<ScoreRow> {
        let mut ecg_work: Vec<BedWork<'_>> = Vec::new();
        let mut work_of: HashMap<&str, usize> = HashMap::new();
        // The patients with new numerics, in the batch's order; the set
        // keeps this O(patients) for a batch of a whole hospital.
        let mut numerics_for: Vec<&str> = Vec::new();
        let mut numerics_seen: HashSet<&str> = HashSet::new();
        for &i in &stored.stored_items {
            let Some(Ok(obs)) = batch.items.get(i).map(|it| &it.decoded) else {
                continue;
            };
            match &obs.body {
                Body::Ecg(blocks) => {
                    for b in blocks.iter().filter(|b| !b.samples.is_empty()) {
                        let w = *work_of.entry(obs.mrn.as_str()).or_insert_with(|| {
                            ecg_work.push(BedWork {
                                blocks: Vec::new(),
                                samples: 0,
                            });
                            ecg_work.len() - 1
                        });
                        ecg_work[w].blocks.push((obs, b));
                        ecg_work[w].samples += b.samples.len();
                    }
                }
                Body::Numeric(readings) => {
                    let charted = batch.source == CHARTED_SOURCE;
                    let patient = self.patient_vitals(&obs.mrn);
                    for (vital, reading) in readings {
                        if let wardwatch_core::ingest::observation::Reading::Value(v) = reading {
                            if charted {
                                patient.chart(*vital, obs.effective, *v);
                            } else {
                                patient.windows[vital.index()].push(obs.effective, *v);
                            }
                        }
                    }
                    if numerics_seen.insert(obs.mrn.as_str()) {
                        numerics_for.push(&obs.mrn);
                    }
                }
            }
        }
        let mut rows = self.analyse_waveforms(store, ecg_work);
        // Keep the active rhythm findings current.
        for row in &rows {
            if let ScoreDetail::EcgEvent(event) = &row.score {
                let kind = event.kind();
                let active = self.findings.entry(row.mrn.clone()).or_default();
                active.retain(|k| *k != kind);
                if event.is_onset() {
                    active.push(kind);
                }
            }
        }
        // The records once for both scores, and for the batch's patients
        // at once.
        let records = match store.patients_shared(&numerics_for) {
            Ok(records) => records,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the patients' records to score their vitals");
                Vec::new()
            }
        };
        for (mrn, record) in numerics_for.into_iter().zip(records) {
            let Some(record) = record else {
                continue;
            };
            match self.news2(store, mrn, &record) {
                Ok(Some(row)) => rows.push(row),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "cannot compute NEWS2"),
            }
            match self.risk(mrn, &record) {
                Ok(Some(row)) => rows.push(row),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "cannot compute the cardiac risk"),
            }
        }
        rows
    }

    /// Analyses a batch's waveform blocks, bed by bed, and returns the rows
    /// they produced (each bed's in the order of its blocks). Beds are
    /// independent, so a batch with enough signal for several beds is
    /// analysed on `available_parallelism` threads, each taking a run of
    /// beds of about equal samples, while the store waits: the writer
    /// thread was the ceiling of a ward's throughput with one core idle
    /// (issue 16). Starting a bed and reading its record for a pacemaker
    /// use the store, so they happen here first, on the stage's thread.
    fn analyse_waveforms(&mut self, store: &Store, work: Vec<BedWork<'_>>) -> Vec<ScoreRow> {
        let mut jobs: Vec<(String, Bed, BedWork<'_>)> = Vec::with_capacity(work.len());
        for w in work {
            let Some(&(first, _)) = w.blocks.first() else {
                continue;
            };
            if let Some((mrn, bed)) = self.take_bed(store, first) {
                jobs.push((mrn, bed, w));
            }
        }
        let total: usize = jobs.iter().map(|j| j.2.samples).sum();
        let threads = if total >= PARALLEL_MIN_SAMPLES {
            std::thread::available_parallelism()
                .map_or(1, usize::from)
                .min(jobs.len())
        } else {
            1
        };
        let analyse = |jobs: &mut [(String, Bed, BedWork<'_>)]| -> Vec<ScoreRow> {
            let mut rows = Vec::new();
            for (mrn, bed, w) in jobs {
                for &(obs, b) in &w.blocks {
                    rows.extend(feed_block(bed, mrn, obs, b));
                }
            }
            rows
        };
        let rows = if threads <= 1 {
            analyse(&mut jobs)
        } else {
            // Contiguous runs of beds, so the rows keep the beds' order.
            let mut runs: Vec<&mut [(String, Bed, BedWork<'_>)]> = Vec::with_capacity(threads);
            let mut rest: &mut [(String, Bed, BedWork<'_>)] = &mut jobs;
            let share = total.div_ceil(threads);
            while runs.len() + 1 < threads && !rest.is_empty() {
                // Up to the bed that would take the run past its share
                // (one bed at least).
                let mut sum = 0;
                let cut = rest
                    .iter()
                    .position(|j| {
                        let over = sum > 0 && sum + j.2.samples > share;
                        sum += j.2.samples;
                        over
                    })
                    .unwrap_or(rest.len());
                let (run, tail) = std::mem::take(&mut rest).split_at_mut(cut);
                runs.push(run);
                rest = tail;
            }
            runs.push(rest);
            std::thread::scope(|scope| {
                let mut runs = runs.into_iter();
                let own = runs.next().unwrap_or_default();
                let helpers: Vec<_> = runs.map(|run| scope.spawn(|| analyse(run))).collect();
                let mut rows = analyse(own);
                for helper in helpers {
                    // A panic in analysis is the stage's, as when it ran
                    // on the stage's thread.
                    match helper.join() {
                        Ok(more) => rows.extend(more),
                        Err(panic) => std::panic::resume_unwind(panic),
                    }
                }
                rows
            })
        };
        for (mrn, bed, _) in jobs {
            self.beds.insert(mrn, bed);
        }
        rows
    }

    /// The patient's bed, taken out of the map for analysis (put back by
    /// `analyse_waveforms`): started at `obs` if new, and its pacemaker
    /// re-read from the record when `PACED_REFRESH` has passed.
    fn take_bed(&mut self, store: &Store, obs: &Observation) -> Option<(String, Bed)> {
        if !self.beds.contains_key(&obs.mrn) {
            match BedsideStream::new(Vec::new()) {
                Ok(stream) => {
                    self.beds.insert(
                        obs.mrn.clone(),
                        Bed {
                            stream,
                            t0: obs.effective,
                            channels: Vec::new(),
                            open: HashMap::new(),
                            rhythm_open: HashMap::new(),
                            lead_rhythm: Default::default(),
                            unusable: Default::default(),
                            paced_read: None,
                            hr_last: None,
                        },
                    );
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot start a bed's analysis");
                    return None;
                }
            }
        }
        let (mrn, mut bed) = self.beds.remove_entry(&obs.mrn)?;
        if bed
            .paced_read
            .is_none_or(|t| obs.effective - t >= PACED_REFRESH || obs.effective < t)
        {
            bed.paced_read = Some(obs.effective);
            match store.patient(&obs.mrn) {
                Ok(record) => bed
                    .stream
                    .set_paced(record.is_some_and(|r| is_paced(&r.conditions))),
                Err(e) => tracing::warn!(error = %e, "cannot read whether a patient is paced"),
            }
        }
        Some((mrn, bed))
    }
    /// A bed's decision as a score row: a confirmed finding is an onset (at
    /// its start the first time, at the decision when the pulse stopped
    /// contradicting it), a suppressed one is `Suppressed` with what the
    /// signals said.
    fn decision_row(bed: &mut Bed, mrn: &str, event: BedsideEvent) -> ScoreRow {
        let lead_code = |name: &str| {
            bed.stream
                .channels()
                .iter()
                .position(|c| c.name == name)
                .map_or(0, |i| bed.channels[i].code)
        };
        match event {
            BedsideEvent::Decision(d) => {
                let lead = lead_code(&d.lead);
                let was_suppressed = bed.open.contains_key(&d.finding.kind);
                bed.open.insert(d.finding.kind, lead);
                let mut finding = d.finding.clone();
                let (at, value, event) = match d.verdict {
                    Verdict::Confirmed => {
                        if !d.evidence.is_empty() {
                            finding.detail =
                                format!("{}; confirmed by {}", finding.detail, d.evidence_text());
                        }
                        let at = if was_suppressed {
                            bed.at(d.at_s)
                        } else {
                            bed.at(d.finding.start_s)
                        };
                        (at, 1.0, EcgEvent::Onset { lead, finding })
                    }
                    Verdict::Suppressed => (
                        bed.at(d.finding.start_s),
                        0.0,
                        EcgEvent::Suppressed {
                            lead,
                            finding,
                            reason: d.summary(),
                        },
                    ),
                };
                ScoreRow {
                    mrn: mrn.to_owned(),
                    at,
                    value,
                    score: ScoreDetail::EcgEvent(event),
                }
            }
            BedsideEvent::End { kind, time_s } => {
                let lead = bed.open.remove(&kind).unwrap_or(0);
                ScoreRow {
                    mrn: mrn.to_owned(),
                    at: bed.at(time_s),
                    value: 0.0,
                    score: ScoreDetail::EcgEvent(EcgEvent::End { lead, kind }),
                }
            }
        }
    }

    /// SDNN over the last five minutes of the patient's lead II.
    fn sdnn_ms(&self, mrn: &str) -> Option<f64> {
        let bed = self.beds.get(mrn)?;
        let track = bed.channels.iter().find(|c| c.code == EcgLead::II.mdc)?;
        let fs_hz = 1e9 / track.period_ns as f64;
        NN_SCRATCH.with_borrow_mut(|nn| {
            wardwatch_score::ecg::hrv::sdnn_ms(track.beats.iter().copied(), fs_hz, nn)
        })
    }

    /// `mrn`'s vitals, a new entry if they have none yet.
    fn patient_vitals(&mut self, mrn: &str) -> &mut PatientVitals {
        if !self.vitals.contains_key(mrn) {
            self.vitals.insert(mrn.to_owned(), PatientVitals::default());
        }
        self.vitals.get_mut(mrn).expect("inserted above")
    }

    /// The time of the patient's newest value among `vitals`.
    fn newest(&self, mrn: &str, vitals: &[Vital]) -> Option<DateTime<Utc>> {
        let patient = self.vitals.get(mrn)?;
        vitals
            .iter()
            .filter_map(|v| patient.windows[v.index()].last.map(|(t, _)| t))
            .max()
    }

    /// A vital as scores take it: the recent median, else the last fresh
    /// value, else a value charted within `CHARTED_FRESH`.
    fn value(&self, mrn: &str, vital: Vital, now: DateTime<Utc>) -> Option<f64> {
        let patient = self.vitals.get(mrn)?;
        patient.windows[vital.index()].value(now).or_else(|| {
            patient.charted[vital.index()]
                .filter(|(t, _)| now - *t <= CHARTED_FRESH)
                .map(|(_, v)| v)
        })
    }

    /// Reads `mrn`'s charted values of the last `CHARTED_FRESH` back from the
    /// store, once per patient and run (errors are logged: NEWS2 then shows
    /// those parameters as missing, never invents them).
    fn load_charted(&mut self, store: &Store, mrn: &str, now: DateTime<Utc>) {
        if !self.charted_loaded.insert(mrn.to_owned()) {
            return;
        }
        let rows = match store.charted_for(mrn, now - CHARTED_FRESH, 200) {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "cannot read charted observations");
                return;
            }
        };
        for row in rows {
            let decoded = wardwatch_core::ingest::observation::decode(row.fhir.as_bytes(), now);
            if let Ok(Observation {
                body: Body::Numeric(readings),
                effective,
                ..
            }) = decoded
            {
                let patient = self.patient_vitals(mrn);
                for (vital, reading) in readings {
                    if let wardwatch_core::ingest::observation::Reading::Value(v) = reading {
                        patient.chart(vital, effective, v);
                    }
                }
            }
        }
    }

    /// The newest charted time of `mrn`, among `vitals`.
    fn newest_charted(&self, mrn: &str, vitals: &[Vital]) -> Option<DateTime<Utc>> {
        let patient = self.vitals.get(mrn)?;
        vitals
            .iter()
            .filter_map(|v| patient.charted[v.index()].map(|(t, _)| t))
            .max()
    }

    /// The combined cardiac risk (wardwatch_score::risk) from NEWS2, active
    /// rhythm findings and the deviation of HR, RR, SpO2, SBP and temperature
    /// from the patient's baseline (the record's, else adult defaults); a row
    /// when the score moves by 5 points or more.
    fn risk(
        &mut self,
        mrn: &str,
        record: &PatientRecord,
    ) -> wardwatch_core::Result<Option<ScoreRow>> {
        use ndarray::{Array1, Array2};
        use wardwatch_score::risk::{RiskInput, cardiac_risk};
        use wardwatch_score::trend::{Baseline as TrendBaseline, zscores};
        let vitals = [
            Vital::HeartRate,
            Vital::RespRate,
            Vital::Spo2,
            Vital::SystolicBp,
            Vital::TemperatureC,
        ];
        let newest = self.newest(mrn, &vitals);
        let Some(newest) = newest else {
            return Ok(None);
        };
        let b = &record.baseline;
        // Usual adult values and spreads where the record is silent (the
        // spreads are a day's typical within-patient variation).
        let mean = Array1::from(vec![
            b.hr_bpm.unwrap_or(75.0),
            b.rr_per_min.unwrap_or(16.0),
            b.spo2_pct.unwrap_or(97.0),
            b.sbp_mmhg.unwrap_or(120.0),
            b.temp_c.unwrap_or(36.8),
        ]);
        let sd = Array1::from(vec![10.0, 3.0, 2.0, 15.0, 0.5]);
        let now: Vec<f64> = vitals
            .iter()
            .map(|v| self.value(mrn, *v, newest).unwrap_or(f64::NAN))
            .collect();
        let x = Array2::from_shape_vec((1, vitals.len()), now).map_err(|e| {
            wardwatch_core::Error::InvalidInput {
                what: "risk features",
                reason: e.to_string(),
            }
        })?;
        let z = zscores(x.view(), &TrendBaseline::from_record(mean, sd));
        let present: Vec<f64> = z.iter().copied().filter(|v| v.is_finite()).collect();
        let d2 = (!present.is_empty())
            .then(|| present.iter().map(|v| v * v).sum::<f64>() / present.len() as f64);
        let news2 = self.news2_last.get(mrn).map(|(score, _)| score.aggregate);
        let input = RiskInput {
            news2_aggregate: news2,
            active_findings: self.findings.get(mrn).cloned().unwrap_or_default(),
            hr_z: z.get((0, 0)).copied().filter(|v| v.is_finite()),
            trend_d2_per_dof: d2,
            sdnn_ms: self.sdnn_ms(mrn),
        };
        let risk = cardiac_risk(&input);
        if self
            .risk_last
            .get(mrn)
            .is_some_and(|last| (last - risk.score).abs() < 5.0)
        {
            return Ok(None);
        }
        self.risk_last.insert(mrn.to_owned(), risk.score);
        Ok(Some(ScoreRow {
            mrn: mrn.to_owned(),
            at: newest,
            value: risk.score,
            score: ScoreDetail::CardiacRisk(risk),
        }))
    }

    /// NEWS2 from the patient's recent vitals (medians over `NEWS2_WINDOW`,
    /// see there); a row when the assessment changed (`same_assessment`),
    /// and when only the charted values moved, at most every
    /// `NEWS2_RECHART`.
    fn news2(
        &mut self,
        store: &Store,
        mrn: &str,
        record: &PatientRecord,
    ) -> wardwatch_core::Result<Option<ScoreRow>> {
        let streamed = self.newest(mrn, &Vital::ALL);
        let seen = streamed.or_else(|| self.newest_charted(mrn, &Vital::ALL));
        self.load_charted(store, mrn, seen.unwrap_or_else(Utc::now));
        let newest = streamed.max(self.newest_charted(mrn, &Vital::ALL));
        let Some(newest) = newest else {
            return Ok(None);
        };
        let value = |v: Vital| self.value(mrn, v, newest);
        let input = News2Input {
            resp_rate_per_min: value(Vital::RespRate),
            spo2_pct: value(Vital::Spo2),
            spo2_scale: record.spo2_scale,
            breathing: value(Vital::O2FlowLpm).map(|f| {
                if f > 0.0 {
                    Breathing::Oxygen
                } else {
                    Breathing::Air
                }
            }),
            systolic_bp_mmhg: value(Vital::SystolicBp),
            pulse_per_min: value(Vital::HeartRate),
            consciousness: value(Vital::Consciousness).and_then(|c| {
                Acvpu::from_letter(
                    ["A", "C", "V", "P", "U"]
                        .get(c.round() as usize)
                        .copied()
                        .unwrap_or(""),
                )
            }),
            temperature_c: value(Vital::TemperatureC),
        };
        let score = match wardwatch_score::news2(&input) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "NEWS2 input rejected");
                return Ok(None);
            }
        };
        if let Some((last, at)) = self.news2_last.get(mrn)
            && same_assessment(last, &score)
            && (last == &score || newest - *at < NEWS2_RECHART)
        {
            return Ok(None);
        }
        self.news2_last
            .insert(mrn.to_owned(), (score.clone(), newest));
        Ok(Some(ScoreRow {
            mrn: mrn.to_owned(),
            at: newest,
            value: f64::from(score.aggregate),
            score: ScoreDetail::News2(score),
        }))
    }
}

/// Whether two NEWS2 results say the same to a clinician: the same points
/// for the same parameters, aggregate, completeness, SpO2 scale and
/// clinical response (RCP, NEWS2 2017, Charts 1-4); the charted values
/// behind the points may differ.
/// Feeds one waveform block to a bed; returns the ECG events,
/// suppressions and heart rate it produced. Pure: no store, so beds can be
/// fed on several threads.
fn feed_block(bed: &mut Bed, mrn: &str, obs: &Observation, b: &EcgBlock) -> Vec<ScoreRow> {
    let fs_hz = 1e9 / b.period_ns as f64;
    let Some(channel) = channel_of(b.lead, fs_hz) else {
        return Vec::new();
    };
    let samples: Vec<f64> = b
        .samples
        .iter()
        .map(|s| s.map_or(f64::NAN, |x| b.origin_mv + b.factor_mv * f64::from(x)))
        .collect();
    let offset_s = bed.seconds(obs.effective);
    let fresh = |origin| BedChannel {
        code: b.lead,
        origin,
        period_ns: b.period_ns,
        pushed: 0,
        beats: Default::default(),
        gaps: Default::default(),
        gap_unusable: None,
    };
    // Where this block starts on the channel's timeline: a new channel,
    // a new rate, a long gap or a clock that went back starts it afresh.
    // What a lead started afresh held for the bed ends where its data did.
    let mut rows = Vec::new();
    let index = match bed.channels.iter().position(|c| c.code == b.lead) {
        None => match bed.stream.add_channel(channel, offset_s) {
            Ok(i) => {
                bed.channels.push(fresh(obs.effective));
                i
            }
            Err(e) => {
                tracing::warn!(error = %e, "a waveform cannot be analysed at this rate");
                return Vec::new();
            }
        },
        Some(i) => {
            let c = &bed.channels[i];
            let gap = obs.effective - c.time_of(c.pushed as usize);
            if c.period_ns != b.period_ns || gap > MAX_ECG_GAP || gap < -Duration::milliseconds(1) {
                if let Err(e) = bed.stream.restart_channel(i, fs_hz, offset_s) {
                    tracing::warn!(error = %e, "a waveform cannot be analysed at this rate");
                    return Vec::new();
                }
                let at = c.time_of(c.pushed as usize);
                for kind in bed.release(i) {
                    rows.push(ScoreRow {
                        mrn: mrn.to_owned(),
                        at,
                        value: 0.0,
                        score: ScoreDetail::EcgEvent(EcgEvent::End { lead: b.lead, kind }),
                    });
                }
                bed.channels[i] = fresh(obs.effective);
            }
            i
        }
    };
    // Pad a short gap with missing samples so times stay right.
    let c = &bed.channels[index];
    let gap_samples = ((obs.effective - c.time_of(c.pushed as usize))
        .num_nanoseconds()
        .unwrap_or(0)
        / c.period_ns)
        .max(0);
    let mut pushes = Vec::with_capacity(2);
    if gap_samples > 0 {
        pushes.push(vec![f64::NAN; gap_samples as usize]);
        let c = &mut bed.channels[index];
        let start = c.pushed as usize;
        if c.gaps.len() >= GAPS_KEPT {
            c.gaps.pop_front();
        }
        c.gaps.push_back((start, start + gap_samples as usize));
    }
    pushes.push(samples);
    for block in pushes {
        let update = match bed.stream.push(index, &block) {
            Ok(u) => u,
            Err(e) => {
                tracing::error!(error = %e, "a bed refused a waveform block");
                return rows;
            }
        };
        let c = &mut bed.channels[index];
        c.pushed += block.len() as i64;
        if let Some(ecg) = &update.ecg {
            c.beats.extend(ecg.beats.iter().map(|b| b.sample));
            let keep = (HRV_WINDOW.num_milliseconds() as f64 * fs_hz / 1000.0) as i64;
            while c
                .beats
                .front()
                .is_some_and(|&s| (s as i64) < c.pushed - keep)
            {
                c.beats.pop_front();
            }
            // The lead's own events, except the life-threatening ones:
            // those are the bed's decision (below); rhythm findings only
            // from the bed's rhythm lead (`Bed::takes`).
            for event in &ecg.events {
                // Padding for data that never arrived reads as unusable
                // signal; it is no sensor of the patient's (the leads
                // were on; a gap in the data is the source's fault, which
                // `tech:lost` says, or a stall, which `tech:stream_stalled`
                // says past `stalled_after`): neither the finding nor its
                // end goes on.
                let c = &mut bed.channels[index];
                match event {
                    StreamEvent::Onset(f)
                        if f.kind == FindingKind::EcgSignalUnusable
                            && c.mostly_gap(f.start_sample, f.end_sample) =>
                    {
                        let gap_end = c
                            .gaps
                            .iter()
                            .filter(|&&(a, _)| a < f.end_sample)
                            .map(|&(_, b)| b)
                            .max()
                            .unwrap_or(f.end_sample);
                        let grace = (GAP_UNUSABLE_GRACE.num_milliseconds() as f64 * fs_hz / 1000.0)
                            as usize;
                        c.gap_unusable = Some((f.clone(), gap_end, gap_end + grace));
                        continue;
                    }
                    StreamEvent::End {
                        kind: FindingKind::EcgSignalUnusable,
                        ..
                    } if c.gap_unusable.is_some() => {
                        c.gap_unusable = None;
                        continue;
                    }
                    _ => {}
                }
                if !is_life_threatening(event_kind(event)) && !bed.takes(index, event) {
                    continue;
                }
                let c = &bed.channels[index];
                let (at, value, event) = match event {
                    StreamEvent::Onset(f) if !is_life_threatening(f.kind) => (
                        c.time_of(f.start_sample),
                        1.0,
                        EcgEvent::Onset {
                            lead: b.lead,
                            finding: f.clone(),
                        },
                    ),
                    StreamEvent::End { kind, sample, .. } if !is_life_threatening(*kind) => (
                        c.time_of(*sample),
                        0.0,
                        EcgEvent::End {
                            lead: b.lead,
                            kind: *kind,
                        },
                    ),
                    _ => continue,
                };
                rows.push(ScoreRow {
                    mrn: mrn.to_owned(),
                    at,
                    value,
                    score: ScoreDetail::EcgEvent(event),
                });
            }
            // An unusable signal that began in a gap and lasts well past
            // it over received signal is the patient's after all (leads
            // off while the data was lost): passed on now, from the gap's
            // end, and its end as any other's.
            let c = &mut bed.channels[index];
            if c.gap_unusable
                .as_ref()
                .is_some_and(|&(_, _, due)| c.pushed as usize >= due)
                && let Some((finding, gap_end, _)) = c.gap_unusable.take()
            {
                let onset = StreamEvent::Onset(finding);
                if bed.takes(index, &onset)
                    && let StreamEvent::Onset(finding) = onset
                {
                    rows.push(ScoreRow {
                        mrn: mrn.to_owned(),
                        at: bed.channels[index].time_of(gap_end),
                        value: 1.0,
                        score: ScoreDetail::EcgEvent(EcgEvent::Onset {
                            lead: b.lead,
                            finding,
                        }),
                    });
                }
            }
            // A lead that has become the rhythm lead (the one before it
            // now unusable) brings the episode it shows: raised now.
            let now = bed.channels[index].time_of(bed.channels[index].pushed as usize);
            for (lead, finding) in bed.promoted() {
                rows.push(ScoreRow {
                    mrn: mrn.to_owned(),
                    at: now,
                    value: 1.0,
                    score: ScoreDetail::EcgEvent(EcgEvent::Onset {
                        lead: bed.channels[lead].code,
                        finding,
                    }),
                });
            }
            let c = &bed.channels[index];
            let now = c.time_of(c.pushed as usize);
            let due = bed.hr_last.is_none_or(|t| now - t >= HR_EVERY);
            // From the best evidence: the lead's meter while it beats,
            // else a good pulse (the lead off, the heart beating).
            if due && let Some((from, hr)) = bed.stream.heart_rate(index, ecg.hr_bpm) {
                bed.hr_last = Some(now);
                rows.push(ScoreRow {
                    mrn: mrn.to_owned(),
                    at: now,
                    value: hr,
                    score: ScoreDetail::EcgHr {
                        lead: bed.channels[from].code,
                    },
                });
            }
        }
        for event in update.events {
            rows.push(LiveScorer::decision_row(bed, mrn, event));
        }
    }
    rows
}

fn same_assessment(a: &wardwatch_score::News2Score, b: &wardwatch_score::News2Score) -> bool {
    a.aggregate == b.aggregate
        && a.complete == b.complete
        && a.red_score == b.red_score
        && a.spo2_scale == b.spo2_scale
        && a.response == b.response
        && a.missing == b.missing
        && a.sub_scores.len() == b.sub_scores.len()
        && a.sub_scores
            .iter()
            .zip(&b.sub_scores)
            .all(|(x, y)| x.parameter == y.parameter && x.score == y.score)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A monitor's 1 Hz readings over an hour: the window stays bounded at
    /// one reading per slot, and a half-minute artefact in it does not move
    /// the median NEWS2 takes.
    #[test]
    fn a_vital_window_keeps_one_reading_per_slot_and_its_median_ignores_brief_artefact() {
        let t0 = Utc
            .with_ymd_and_hms(2026, 1, 1, 8, 0, 0)
            .single()
            .expect("time");
        let mut w = VitalWindow::default();
        for s in 0..3600 {
            // SpO2 96-97 %, with a probe-motion dip to 80 % for 30 s.
            let v = if (3500..3530).contains(&s) {
                80.0
            } else {
                96.0 + (s % 2) as f64
            };
            w.push(t0 + Duration::seconds(s), v);
        }
        let slots = (NEWS2_WINDOW.num_seconds() / VITAL_SLOT_S) as usize;
        assert!(
            w.recent.len() <= slots + 1,
            "{} readings kept",
            w.recent.len()
        );
        assert!(
            w.recent.capacity() <= 2 * (slots + 1),
            "{}",
            w.recent.capacity()
        );
        let now = t0 + Duration::seconds(3599);
        let median = w.value(now).expect("a value");
        assert!((96.0..=97.0).contains(&median), "{median}");
        // The newest reading is the one kept for its slot.
        assert_eq!(w.last, Some((now, 97.0)));
        // An hour-old window with nothing new: the last value while fresh.
        let later = now + NEWS2_WINDOW + Duration::seconds(1);
        assert_eq!(w.value(later), Some(97.0));
        assert_eq!(w.value(now + NEWS2_FRESH + Duration::seconds(1)), None);
    }

    /// Readings that arrive out of order each keep a place in the window,
    /// so it can hold more than the stack's 64: the median is then taken
    /// over all of them, as over a few.
    #[test]
    fn the_median_counts_every_reading_in_the_window_however_many() {
        let t0 = Utc
            .with_ymd_and_hms(2026, 1, 1, 8, 0, 0)
            .single()
            .expect("time");
        let mut w = VitalWindow::default();
        // 200 readings, each a second before the one before it: 140 of
        // 90 and then 60 of 120 (time order: the 120s first).
        for k in 0..200i64 {
            let v = if k < 140 { 90.0 } else { 120.0 };
            w.push(t0 + Duration::seconds(200 - k), v);
        }
        assert!(w.recent.len() > 64, "{}", w.recent.len());
        let now = t0 + Duration::seconds(200);
        assert_eq!(w.value(now), Some(90.0));
        // 60 of 90 and 140 of 120: the other way.
        let mut w = VitalWindow::default();
        for k in 0..200i64 {
            let v = if k < 60 { 90.0 } else { 120.0 };
            w.push(t0 + Duration::seconds(200 - k), v);
        }
        assert_eq!(w.value(now), Some(120.0));
        // A few readings: their median.
        let mut w = VitalWindow::default();
        for (k, v) in [(0, 70.0), (10, 90.0), (20, 80.0)] {
            w.push(t0 + Duration::seconds(k), v);
        }
        assert_eq!(w.value(t0 + Duration::seconds(20)), Some(80.0));
    }

    /// A bed of two leads (II, then V1) for the pairing of its leads'
    /// findings.
    fn two_lead_bed() -> Bed {
        let t0 = Utc
            .with_ymd_and_hms(2026, 1, 1, 8, 0, 0)
            .single()
            .expect("time");
        let channel = |code| BedChannel {
            code,
            origin: t0,
            period_ns: 4_000_000,
            pushed: 0,
            beats: Default::default(),
            gaps: Default::default(),
            gap_unusable: None,
        };
        Bed {
            stream: BedsideStream::new(Vec::new()).expect("bed"),
            t0,
            channels: vec![channel(EcgLead::II.mdc), channel(131_331)],
            open: HashMap::new(),
            rhythm_open: HashMap::new(),
            lead_rhythm: Default::default(),
            unusable: Default::default(),
            paced_read: None,
            hr_last: None,
        }
    }

    fn onset(kind: FindingKind) -> StreamEvent {
        StreamEvent::Onset(wardwatch_score::ecg::rhythm::Finding {
            kind,
            start_sample: 0,
            end_sample: 0,
            start_s: 0.0,
            end_s: 0.0,
            detail: String::new(),
        })
    }

    fn end(kind: FindingKind) -> StreamEvent {
        StreamEvent::End {
            kind,
            sample: 0,
            time_s: 0.0,
        }
    }

    /// The technical "ECG unusable" lasts while any lead is unusable: one
    /// lead's recovery does not end it while the other is still off.
    #[test]
    fn an_unusable_ecg_ends_when_the_last_unusable_lead_recovers() {
        let mut bed = two_lead_bed();
        let k = FindingKind::EcgSignalUnusable;
        assert!(bed.takes(1, &onset(k)), "V1 off: the bed's ECG is unusable");
        assert!(!bed.takes(0, &onset(k)), "II off too: already raised");
        assert!(!bed.takes(1, &end(k)), "V1 back, II still off");
        assert!(bed.takes(0, &end(k)), "II back: it ends");
        assert!(
            !bed.takes(0, &end(k)),
            "an end without its onset is not the bed's"
        );
    }

    /// AF and ventricular rhythm are the rhythm lead's (lead II): another
    /// lead's are not the bed's, and an episode ends on the lead it
    /// started on, or when that lead is started afresh.
    #[test]
    fn rhythm_findings_are_lead_iis_and_end_where_they_started() {
        let mut bed = two_lead_bed();
        let af = FindingKind::AtrialFibrillation;
        assert!(!bed.takes(1, &onset(af)), "V1's AF beside lead II");
        assert!(bed.takes(0, &onset(af)));
        assert!(!bed.takes(0, &onset(af)), "one onset per episode");
        assert!(!bed.takes(1, &end(af)), "V1 did not start it");
        assert!(bed.takes(0, &end(af)));
        // Lead II restarts (a gap) while in AF and unusable: both end.
        assert!(bed.takes(0, &onset(af)));
        assert!(bed.takes(0, &onset(FindingKind::EcgSignalUnusable)));
        assert_eq!(bed.release(0), vec![af, FindingKind::EcgSignalUnusable]);
        assert!(bed.release(0).is_empty());
        // Lead II unusable: the rhythm is V1's while it is.
        let mut bed = two_lead_bed();
        assert!(bed.takes(0, &onset(FindingKind::EcgSignalUnusable)));
        assert!(bed.takes(1, &onset(af)), "V1's AF while lead II is off");
        assert!(bed.takes(0, &end(FindingKind::EcgSignalUnusable)));
        assert!(!bed.takes(0, &onset(af)), "the episode V1 opened goes on");
        assert!(
            !bed.takes(1, &end(af)),
            "V1's end: lead II, the rhythm lead again, still shows it"
        );
        assert!(bed.takes(0, &end(af)), "and ends it");
        // A bed without lead II: its first ECG lead is the rhythm lead.
        let mut bed = two_lead_bed();
        bed.channels.remove(0);
        assert!(bed.takes(0, &onset(FindingKind::VentricularRhythm)));
    }

    /// A lead that becomes the rhythm lead brings the episode it shows:
    /// V1's AF beside a lead II in sinus rhythm is the bed's once lead II
    /// comes off, raised once, and V1's end ends it.
    #[test]
    fn a_lead_that_becomes_the_rhythm_lead_brings_its_episode() {
        let af = FindingKind::AtrialFibrillation;
        let unusable = FindingKind::EcgSignalUnusable;
        let mut bed = two_lead_bed();
        assert!(!bed.takes(1, &onset(af)), "V1's AF beside lead II");
        assert!(bed.promoted().is_empty(), "lead II is the rhythm lead");
        assert!(bed.takes(0, &onset(unusable)));
        let promoted = bed.promoted();
        assert_eq!(promoted.len(), 1, "V1's AF is the bed's now");
        assert_eq!((promoted[0].0, promoted[0].1.kind), (1, af));
        assert!(bed.promoted().is_empty(), "raised once");
        assert!(!bed.takes(1, &onset(af)), "one episode");
        assert!(bed.takes(0, &end(unusable)));
        assert!(bed.promoted().is_empty(), "lead II has nothing to bring");
        assert!(bed.takes(1, &end(af)), "V1 started it: V1's end ends it");
        // Both leads unusable: nothing is brought from an unusable lead.
        let mut bed = two_lead_bed();
        assert!(!bed.takes(1, &onset(af)));
        assert!(bed.takes(1, &onset(unusable)));
        assert!(!bed.takes(0, &onset(unusable)));
        assert!(bed.promoted().is_empty());
    }

    /// An episode goes on while another lead still shows it when the lead
    /// it started on comes off or starts afresh; the rhythm lead's own end
    /// ends it.
    #[test]
    fn an_episode_goes_on_on_another_lead_that_shows_it() {
        let af = FindingKind::AtrialFibrillation;
        let unusable = FindingKind::EcgSignalUnusable;
        // Both leads in AF; lead II comes off and its AF ends there.
        let mut bed = two_lead_bed();
        assert!(bed.takes(0, &onset(af)));
        assert!(!bed.takes(1, &onset(af)));
        assert!(bed.takes(0, &onset(unusable)));
        assert!(!bed.takes(0, &end(af)), "V1 still shows AF: it goes on");
        assert!(bed.takes(0, &end(unusable)));
        assert!(
            !bed.takes(0, &onset(af)),
            "lead II sees it again: one episode"
        );
        assert!(
            !bed.takes(1, &end(af)),
            "lead II still shows it: it goes on"
        );
        assert!(bed.takes(0, &end(af)), "the rhythm lead ends it");
        // Lead II restarts after a gap: V1 carries the episode on.
        let mut bed = two_lead_bed();
        assert!(bed.takes(0, &onset(af)));
        assert!(!bed.takes(1, &onset(af)));
        assert!(bed.release(0).is_empty(), "V1 still shows AF");
        assert!(bed.takes(1, &end(af)), "and ends it");
        // The rhythm lead's end is the episode's, whatever V1 shows.
        let mut bed = two_lead_bed();
        assert!(bed.takes(0, &onset(af)));
        assert!(!bed.takes(1, &onset(af)));
        assert!(bed.takes(0, &end(af)));
        assert!(!bed.takes(1, &end(af)));
        // V1's AF ended before lead II came off: nothing to carry it on.
        let mut bed = two_lead_bed();
        assert!(bed.takes(0, &onset(af)));
        assert!(!bed.takes(1, &onset(af)));
        assert!(!bed.takes(1, &end(af)));
        assert!(bed.takes(0, &onset(unusable)));
        assert!(bed.takes(0, &end(af)));
    }
}
