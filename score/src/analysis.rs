//! One-call ECG analysis for the CLI and the live pipeline: [`analyze_ecg`]
//! turns a recording into an [`EcgReport`] (R peaks, HR series, HRV, rhythm
//! findings with times, signal quality); [`EcgStream`] does the same
//! incrementally on blocks of a few seconds and reports alarm onsets and ends;
//! [`parse_sample_column`] reads the one-column text/CSV input.

use std::fmt;

use ndarray::{Array1, ArrayView1};
use serde::Serialize;

use crate::ecg::atrial::{AtrialActivity, P_RETURN_BEATS, P_WAVE_ONSET_SHARE};
use crate::ecg::beats::{BeatClass, BeatClassifier};
use crate::ecg::hr::{HrMeter, HrPoint, hr_series};
use crate::ecg::hrv::{Hrv, hrv, rr_intervals_ms};
use crate::ecg::qrs::{BEAT_LATENCY_S, Beat, QrsDetector, detect_qrs};
use crate::ecg::quality::{
    QualityWindow, WINDOW_S, assess_quality, unusable_share, window_quality,
};
use crate::ecg::rhythm::{
    AF_WINDOW, ASYSTOLE_S, BRADY_BEATS, BRADY_BPM, Finding, FindingKind, TACHY_BEATS, TACHY_BPM,
    VT_BEATS, VT_BPM, af_episodes, af_features, pauses, rate_alarms,
};
use crate::ecg::vf::{VfChange, VfTrack, vf_measures};
use crate::error::{Error, Result};

/// Everything `wardwatchctl ecg analyze` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EcgReport {
    pub fs_hz: f64,
    pub samples: usize,
    pub duration_s: f64,
    pub beat_count: usize,
    /// R-peak sample indices.
    pub r_peaks: Vec<usize>,
    /// Heart-rate meter reading at each beat (see `ecg::hr`).
    pub hr_series: Vec<HrPoint>,
    /// Beats per minute over the whole recording (beats − 1 over their span).
    pub mean_hr_bpm: Option<f64>,
    pub hrv: Option<Hrv>,
    /// Rhythm findings and technical conditions in time order.
    pub findings: Vec<Finding>,
    /// Share of the recording with usable signal, in percent.
    pub usable_pct: f64,
    pub quality: Vec<QualityWindow>,
}

/// Analyses a single-lead ECG (mV, NaN for missing samples).
pub fn analyze_ecg(samples_mv: ArrayView1<f64>, fs_hz: f64) -> Result<EcgReport> {
    let beats = detect_qrs(samples_mv, fs_hz)?;
    let r_peaks: Vec<usize> = beats.iter().map(|b| b.sample).collect();
    let n = samples_mv.len();
    let quality = assess_quality(samples_mv, fs_hz);
    let rr_ms = rr_intervals_ms(&r_peaks, fs_hz);
    let mut findings = pauses(&r_peaks, n, fs_hz, &quality);
    findings.extend(rate_alarms(&r_peaks, fs_hz));
    findings.extend(af_episodes(&r_peaks, rr_ms.view(), fs_hz));
    findings.extend(unusable_stretches(&quality, fs_hz, &findings));
    findings.sort_by_key(|f| (f.start_sample, f.end_sample));
    let mean_hr_bpm = match (r_peaks.first(), r_peaks.last()) {
        (Some(&a), Some(&b)) if b > a => {
            Some(60.0 * (r_peaks.len() - 1) as f64 * fs_hz / (b - a) as f64)
        }
        _ => None,
    };
    Ok(EcgReport {
        fs_hz,
        samples: n,
        duration_s: n as f64 / fs_hz,
        beat_count: r_peaks.len(),
        hr_series: hr_series(&r_peaks, fs_hz),
        hrv: hrv(rr_ms.view()),
        mean_hr_bpm,
        findings,
        usable_pct: 100.0 * (1.0 - unusable_share(&quality, 0, n)),
        quality,
        r_peaks,
    })
}

/// Runs of unusable windows lasting at least the asystole limit that no
/// pause finding already reports (noise with spurious beats, for instance).
fn unusable_stretches(quality: &[QualityWindow], fs_hz: f64, known: &[Finding]) -> Vec<Finding> {
    let min = (ASYSTOLE_S * fs_hz) as usize;
    let mut out = Vec::new();
    let mut k = 0;
    while k < quality.len() {
        if quality[k].quality.is_usable() {
            k += 1;
            continue;
        }
        let first = k;
        while k < quality.len() && !quality[k].quality.is_usable() {
            k += 1;
        }
        let start = quality[first].start_sample;
        let end = quality[k - 1].start_sample + quality[k - 1].samples;
        let covered = known.iter().any(|f| {
            f.kind == FindingKind::EcgSignalUnusable && f.start_sample < end && start < f.end_sample
        });
        if end - start >= min && !covered {
            let kinds: Vec<String> = quality[first..k]
                .iter()
                .map(|w| format!("{:?}", w.quality).to_lowercase())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            out.push(Finding {
                kind: FindingKind::EcgSignalUnusable,
                start_sample: start,
                end_sample: end,
                start_s: start as f64 / fs_hz,
                end_s: end as f64 / fs_hz,
                detail: format!("signal {}: check leads", kinds.join("/")),
            });
        }
    }
    out
}

fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0);
    format!(
        "{:02}:{:02}:{:05.2}",
        (s / 3600.0) as u64,
        ((s / 60.0) as u64) % 60,
        s % 60.0
    )
}

impl fmt::Display for EcgReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "ECG: {} samples at {} Hz ({}), {:.1} % usable signal",
            self.samples,
            self.fs_hz,
            clock(self.duration_s),
            self.usable_pct
        )?;
        match self.mean_hr_bpm {
            Some(hr) => writeln!(f, "beats: {}, mean heart rate {hr:.0} bpm", self.beat_count)?,
            None => writeln!(f, "beats: {}", self.beat_count)?,
        }
        if let (Some(lo), Some(hi)) = (
            self.hr_series
                .iter()
                .map(|p| p.hr_bpm)
                .min_by(f64::total_cmp),
            self.hr_series
                .iter()
                .map(|p| p.hr_bpm)
                .max_by(f64::total_cmp),
        ) {
            writeln!(f, "heart-rate meter: {lo:.0}–{hi:.0} bpm")?;
        }
        match &self.hrv {
            Some(h) => writeln!(
                f,
                "HRV: SDNN {:.1} ms, RMSSD {:.1} ms, pNN50 {:.1} % ({} NN intervals)",
                h.sdnn_ms, h.rmssd_ms, h.pnn50_pct, h.nn_count
            )?,
            None => writeln!(f, "HRV: too few normal intervals")?,
        }
        if self.findings.is_empty() {
            write!(f, "findings: none")
        } else {
            write!(f, "findings:")?;
            for x in &self.findings {
                write!(
                    f,
                    "\n  {}–{}  {}: {}",
                    clock(x.start_s),
                    clock(x.end_s),
                    x.kind.label(),
                    x.detail
                )?;
            }
            Ok(())
        }
    }
}

/// Reads one sample per line. A first line that is not a number is taken as
/// a header; blank lines are skipped; `NaN`/`NA` mark missing samples; a
/// trailing comma or semicolon is allowed. Anything else is an error naming
/// the line.
pub fn parse_sample_column(text: &str) -> Result<Vec<f64>> {
    let mut out = Vec::new();
    let mut first_row = true;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim().trim_end_matches([',', ';']).trim();
        if line.is_empty() {
            continue;
        }
        let field = line.trim_matches('"');
        let value = if field.eq_ignore_ascii_case("nan") || field.eq_ignore_ascii_case("na") {
            Some(f64::NAN)
        } else {
            field.parse::<f64>().ok().filter(|v| v.is_finite())
        };
        match value {
            Some(v) => out.push(v),
            None if first_row => {}
            None => {
                return Err(Error::BadSampleRow {
                    line: i + 1,
                    text: raw.trim().chars().take(60).collect(),
                });
            }
        }
        first_row = false;
    }
    if out.is_empty() {
        return Err(Error::NoSamples);
    }
    Ok(out)
}

/// An alarm-style event from the live analyser.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum StreamEvent {
    /// A condition started; `end_sample` is the sample at which it was noticed.
    Onset(Finding),
    /// The condition of that kind ended at `sample`.
    End {
        kind: FindingKind,
        sample: usize,
        time_s: f64,
    },
}

/// What one block of samples produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamUpdate {
    pub beats: Vec<Beat>,
    /// Beats classified in this block (R-peak sample, class): a beat is
    /// classified once the next beat has been seen (at most about 2 s
    /// after it), so these may be beats of an earlier block.
    pub classes: Vec<(usize, BeatClass)>,
    /// The heart-rate meter's reading at the end of the block.
    pub hr_bpm: Option<f64>,
    pub events: Vec<StreamEvent>,
}

/// Live ECG analysis: feed blocks of samples, get beats (the same as
/// [`detect_qrs`] on the whole signal), the HR reading and alarm events.
///
/// Asystole is raised once no beat has been confirmed for 4 s plus the
/// detector's 0.2 s confirmation delay, so a beat that is still being
/// confirmed never causes a brief false alarm; over mostly unusable signal it
/// is raised as a technical condition instead.
#[derive(Debug, Clone)]
pub struct EcgStream {
    fs_hz: f64,
    detector: QrsDetector,
    meter: HrMeter,
    recent_beats: Vec<usize>,
    pending_quality: Vec<f64>,
    quality: Vec<QualityWindow>,
    pause: Option<FindingKind>,
    brady: bool,
    tachy: bool,
    af: bool,
    /// Beats since the AF window last said AF, while an episode is open.
    af_off_beats: usize,
    /// Where the last AF episode ended: the next starts no earlier.
    af_last_end: usize,
    vf: VfTrack,
    classifier: BeatClassifier,
    /// The current run of consecutive ventricular beats: its first R peak
    /// and its last `VT_BEATS` (bounded however long a ventricular rhythm
    /// lasts).
    v_run: std::collections::VecDeque<usize>,
    v_run_start: usize,
    v_run_len: usize,
    /// The last classified beats (R peak, whether it is ectopic), for AF.
    classified: std::collections::VecDeque<(usize, bool)>,
    vt: bool,
    /// A ventricular rhythm (slower than VT) is open.
    vent_rhythm: bool,
    /// The patient is paced: no ventricular rhythm finding.
    paced: bool,
    /// P-wave coherence before the beats, for AF (see `ecg::atrial`).
    atrial: AtrialActivity,
    /// The last beat at which the P waves were organised: an AF episode
    /// starts no earlier.
    af_organised_at: usize,
    /// Where the open AF episode started.
    af_start: usize,
    /// The atrial flutter reported open (where it began), and where the
    /// last one ended.
    flutter_from: Option<usize>,
    flutter_last_end: usize,
    af_undecided_beats: usize,
    /// Beats in a row at which the P waves were organised.
    af_organised_run: usize,
}

impl EcgStream {
    pub fn new(fs_hz: f64) -> Result<EcgStream> {
        Ok(EcgStream {
            fs_hz,
            detector: QrsDetector::new(fs_hz)?,
            meter: HrMeter::new(fs_hz),
            recent_beats: Vec::new(),
            pending_quality: Vec::new(),
            quality: Vec::new(),
            pause: None,
            brady: false,
            tachy: false,
            af: false,
            af_off_beats: 0,
            af_last_end: 0,
            vf: VfTrack::new(fs_hz),
            classifier: BeatClassifier::new(fs_hz),
            v_run: std::collections::VecDeque::with_capacity(VT_BEATS + 1),
            v_run_start: 0,
            v_run_len: 0,
            classified: std::collections::VecDeque::new(),
            vt: false,
            vent_rhythm: false,
            paced: false,
            atrial: AtrialActivity::new(fs_hz),
            af_organised_at: 0,
            af_start: 0,
            flutter_from: None,
            flutter_last_end: 0,
            af_undecided_beats: 0,
            af_organised_run: 0,
        })
    }

    fn finding(&self, kind: FindingKind, start: usize, end: usize, detail: String) -> Finding {
        Finding {
            kind,
            start_sample: start,
            end_sample: end,
            start_s: start as f64 / self.fs_hz,
            end_s: end as f64 / self.fs_hz,
            detail,
        }
    }

    fn end(&self, kind: FindingKind, sample: usize) -> StreamEvent {
        StreamEvent::End {
            kind,
            sample,
            time_s: sample as f64 / self.fs_hz,
        }
    }

    /// Samples fed so far.
    pub fn samples_seen(&self) -> usize {
        self.detector.samples_seen()
    }

    /// Feeds a block (mV, NaN for missing samples).
    pub fn push(&mut self, samples_mv: &[f64]) -> StreamUpdate {
        let start_of_block = self.detector.samples_seen();
        let beats = self.detector.push(samples_mv);
        self.classifier.push(samples_mv);
        self.atrial.push(samples_mv);
        self.update_quality(samples_mv, start_of_block);
        let mut events = Vec::new();
        self.check_vf(samples_mv, start_of_block, &mut events);
        for beat in &beats {
            self.on_beat(beat.sample, &mut events);
            self.classifier.add_beat(beat.sample);
        }
        let mut classes = Vec::new();
        for beat in self.classifier.take_classified() {
            // No class over unusable signal (issue 10): electrode motion
            // and muscle noise make any complex look unlike the template,
            // and monitors report such beats as unclassified, not as PVCs.
            let r = beat.sample;
            let around = (
                r.saturating_sub(self.fs_hz as usize),
                (r + self.fs_hz as usize).min(self.quality_end()),
            );
            let class = if unusable_share(&self.quality, around.0, around.1) > 0.0 {
                BeatClass::Unknown
            } else {
                beat.class
            };
            self.on_class(r, class, &mut events);
            // For AF, the beats clearly unlike the dominant ones are set
            // aside (ventricular, paced, aberrant and fusion beats bring
            // their own intervals, which are not the irregularity of AF).
            // Not the ventricular class itself: in AF the ventricular
            // rule's premature families take in rate-varying normal beats,
            // and too few intervals were left (AF duration Se 89 %).
            let ectopic = beat.features.is_some_and(|f| f.is_unlike());
            self.classified.push_back((r, ectopic));
            self.atrial
                .add_beat(r, ectopic || class == BeatClass::Unknown);
            if self.classified.len() > AF_WINDOW + 1 {
                self.classified.pop_front();
            }
            classes.push((r, class));
        }
        let now = self.detector.samples_seen();
        self.check_pause(now, &mut events);
        StreamUpdate {
            beats,
            classes,
            // As of the newest moment whose beats are known: a beat still
            // being confirmed must not read as a slowing (at 110 /min the
            // reading dipped by up to a quarter between beats).
            hr_bpm: self
                .meter
                .reading_at(now.saturating_sub((BEAT_LATENCY_S * self.fs_hz) as usize)),
            events,
        }
    }

    fn update_quality(&mut self, block: &[f64], block_start: usize) {
        let len = ((WINDOW_S * self.fs_hz).round() as usize).max(1);
        let mut start = block_start - self.pending_quality.len();
        self.pending_quality.extend_from_slice(block);
        while self.pending_quality.len() >= len {
            let rest = self.pending_quality.split_off(len);
            let window = std::mem::replace(&mut self.pending_quality, rest);
            let (quality, noise_ratio) = window_quality(ArrayView1::from(&window[..]), self.fs_hz);
            self.quality.push(QualityWindow {
                start_sample: start,
                samples: len,
                quality,
                noise_ratio,
            });
            start += len;
        }
        // Keep only what an asystole decision can look back over.
        let keep = (2.0 * ASYSTOLE_S / WINDOW_S) as usize + 2;
        if self.quality.len() > keep {
            self.quality.drain(..self.quality.len() - keep);
        }
    }

    fn on_beat(&mut self, sample: usize, events: &mut Vec<StreamEvent>) {
        /// Beats (four intervals) that give the rate "now" in a finding's text.
        const RATE_NOW_BEATS: usize = 5;
        self.meter.beat(sample);
        if let Some(kind) = self.pause.take() {
            events.push(self.end(kind, sample));
        }
        self.recent_beats.push(sample);
        let cap = AF_WINDOW + 1;
        if self.recent_beats.len() > 2 * cap {
            self.recent_beats.drain(..self.recent_beats.len() - cap);
        }
        let b = &self.recent_beats;
        let rate_over = |k: usize| {
            (b.len() >= k).then(|| {
                60.0 * (k - 1) as f64 * self.fs_hz / (b[b.len() - 1] - b[b.len() - k]) as f64
            })
        };
        let limit = (ASYSTOLE_S * self.fs_hz).ceil() as usize;
        let no_pause = b.len() >= BRADY_BEATS
            && b[b.len() - BRADY_BEATS..]
                .windows(2)
                .all(|w| w[1] - w[0] < limit);
        let brady_now = no_pause && rate_over(BRADY_BEATS).is_some_and(|hr| hr < BRADY_BPM);
        // In VF/flutter the "beats" are the undulation: not a tachycardia.
        let tachy_now =
            !self.vf.is_active() && rate_over(TACHY_BEATS).is_some_and(|hr| hr > TACHY_BPM);
        // AF over the last AF_WINDOW classified beats, leaving out every
        // interval that starts or ends at a ventricular beat: ectopy is not
        // the irregularity of AF (issue 10).
        let c = &self.classified;
        // (first beat, interval ms) of the window's intervals.
        let intervals: Vec<(usize, f64)> = if c.len() > AF_WINDOW {
            let first = c.len() - AF_WINDOW - 1;
            c.iter()
                .skip(first)
                .zip(c.iter().skip(first + 1))
                .filter(|(a, b)| !a.1 && !b.1)
                .map(|(a, b)| (a.0, (b.0 - a.0) as f64 * 1000.0 / self.fs_hz))
                .collect()
        } else {
            Vec::new()
        };
        // P waves standing in place before the last beats are organised
        // atrial activity (sinus rhythm, ectopy, flutter with a fixed AV
        // delay), not AF, however irregular the intervals (`ecg::atrial`):
        // no window says AF then, an open episode ends there, and the next
        // starts no earlier than where they were last seen.
        // Atrial flutter's organised atrial signal (`ecg::flutter`) is
        // organised activity too: flutter with variable block is as
        // irregular as AF at the ventricles (MIT-BIH 222).
        let p_waves = self.atrial.organised();
        let flutter = self.atrial.flutter_since();
        let organised = p_waves.or(flutter);
        // Nor is a quiet baseline between the beats, where the TQ segments
        // can be measured (222's nodal rhythm and atrial bigeminy).
        let quiet = self.atrial.quiet_baseline() == Some(true);
        if let Some(middle) = p_waves {
            self.af_organised_at = middle;
        }
        if flutter.is_some() {
            // AF that follows flutter starts after it, not where the
            // flutter began.
            self.af_organised_at = sample;
        }
        let irregular = intervals.len() * 2 >= AF_WINDOW && {
            let rr_ms: Array1<f64> = intervals.iter().map(|i| i.1).collect();
            af_features(rr_ms.view()).is_af()
        };
        let af_window = irregular && organised.is_none() && !quiet;
        self.af_organised_run = if organised.is_some() {
            self.af_organised_run + 1
        } else {
            0
        };
        // An open episode ends on P waves only once they have stayed for
        // a few beats: a chance alignment of f waves in long AF (210) split
        // one episode into eleven, each a new alarm.
        let p_waves_back = self.af_organised_run >= P_RETURN_BEATS;
        // Hysteresis, so one episode is one finding: an episode starts only
        // while the latest beats are irregular, and ends once they have
        // been regular for a run (placed where the run began) or the
        // window has not said AF for half a window (another irregular
        // rhythm: ectopy, flutter with variable block).
        // Only an open episode or a window saying AF needs it (it is
        // quadratic in the window, and this runs on every beat).
        let regular_tail = if self.af || af_window {
            regular_run(&intervals, true)
        } else {
            None
        };
        // A window with too few intervals left between ectopic beats (203:
        // AF with multiform PVCs) cannot say whether AF goes on: it holds
        // an open episode for up to a window of beats instead of counting
        // towards its end (MIT-BIH 203 regains about 120 s of AF).
        // With under a fifth of the intervals left, the rhythm is mostly
        // beats unlike the dominant ones (paced, ventricular: 217) and not
        // held as AF (a third, a quarter and a fifth were compared on all
        // 48 records; a fifth kept 203's AF and dropped 92 s of 217's).
        let undecided = c.len() > AF_WINDOW
            && intervals.len() * 2 < AF_WINDOW
            && intervals.len() * 5 >= AF_WINDOW;
        self.af_undecided_beats = if self.af && undecided {
            self.af_undecided_beats + 1
        } else {
            0
        };
        self.af_off_beats = if self.af && !af_window {
            if undecided && self.af_undecided_beats < AF_WINDOW {
                self.af_off_beats
            } else {
                self.af_off_beats + 1
            }
        } else {
            0
        };
        let af_now = if self.af {
            !p_waves_back
                && (irregular || (regular_tail.is_none() && self.af_off_beats < AF_WINDOW / 2))
        } else {
            af_window
                && regular_tail.is_none()
                // Nor while half the last beats still have the patient's
                // P wave (a mixed stretch: 222's sinus, atrial bigeminy).
                && self
                    .atrial
                    .p_wave_share()
                    .is_none_or(|s| s < P_WAVE_ONSET_SHARE)
        };
        // The atrial spectrum is needed only while the rhythm may be AF or
        // flutter: irregular, or no P waves standing before the beats
        // (so that flutter is known by the time the intervals say AF).
        self.atrial
            .watch_flutter(irregular || af_now || p_waves.is_none());
        let transitions = [
            (
                FindingKind::ExtremeBradycardia,
                self.brady,
                brady_now,
                BRADY_BEATS,
            ),
            (
                FindingKind::ExtremeTachycardia,
                self.tachy,
                tachy_now,
                TACHY_BEATS,
            ),
            (
                FindingKind::AtrialFibrillation,
                self.af,
                af_now,
                AF_WINDOW + 1,
            ),
        ];
        for (kind, was, is, span) in transitions {
            if is && !was {
                let mut start = self.recent_beats[self.recent_beats.len() - span];
                if kind == FindingKind::AtrialFibrillation {
                    if let Some(k) = regular_run(&intervals, false) {
                        // The window's regular beginning was not yet AF.
                        start = intervals[k].0;
                    }
                    start = start.max(self.af_last_end).max(self.af_organised_at);
                    self.af_start = start;
                }
                // The rate now (the last four intervals, as a monitor's
                // meter shows it), then the rule that fired: at onset the
                // rule's own average has only just crossed its threshold,
                // so "140 bpm" was printed for a patient running at 178.
                let now_rate = rate_over(RATE_NOW_BEATS).or(rate_over(span));
                let rule = match kind {
                    FindingKind::ExtremeBradycardia => format!("< {BRADY_BPM:.0} for {span} beats"),
                    FindingKind::ExtremeTachycardia => format!("> {TACHY_BPM:.0} for {span} beats"),
                    _ => format!("irregular over {span} beats"),
                };
                let detail = match now_rate {
                    Some(hr) => format!("HR {hr:.0} /min, {rule}"),
                    None => rule,
                };
                events.push(StreamEvent::Onset(
                    self.finding(kind, start, sample, detail),
                ));
            } else if was && !is {
                let mut end = sample;
                if kind == FindingKind::AtrialFibrillation {
                    if let Some(middle) = organised {
                        // The P waves came back about half the coherence
                        // window ago.
                        end = middle;
                    } else if let Some(k) = regular_tail {
                        // AF ended where the regular run began, not when
                        // enough regular beats had filled the window.
                        end = intervals[intervals.len() - k].0;
                    } else if let Some(&(first, _)) =
                        intervals.get(intervals.len().saturating_sub(AF_WINDOW / 2))
                    {
                        // The window stopped saying AF half a window ago.
                        end = first;
                    }
                    end = end.max(self.af_last_end).max(self.af_start);
                    self.af_last_end = end;
                }
                events.push(self.end(kind, end));
            }
        }
        (self.brady, self.tachy, self.af) = (brady_now, tachy_now, af_now);
        // Flutter is reported where AF would have been: from where its
        // organised atrial signal began, until the spectrum no longer
        // shows it. Not for a paced patient (paced beats are set aside,
        // and too little signal may be left between them).
        let flutter_now = self
            .atrial
            .flutter_since()
            .filter(|_| !self.paced)
            .map(|from| from.max(self.flutter_last_end));
        match (self.flutter_from, flutter_now) {
            (None, Some(from)) => {
                let detail = self
                    .atrial
                    .flutter_spectrum()
                    .map(|(hz, index)| {
                        format!(
                            "atrial waves {:.0} /min, organisation {index:.2}",
                            hz * 60.0
                        )
                    })
                    .unwrap_or_default();
                let detail = match rate_over(RATE_NOW_BEATS) {
                    Some(hr) if detail.is_empty() => format!("HR {hr:.0} /min"),
                    Some(hr) => format!("HR {hr:.0} /min, {detail}"),
                    None => detail,
                };
                events.push(StreamEvent::Onset(self.finding(
                    FindingKind::AtrialFlutter,
                    from,
                    sample,
                    detail,
                )));
                self.flutter_from = Some(from);
            }
            (Some(from), None) => {
                let end = sample.max(from);
                self.flutter_last_end = end;
                events.push(self.end(FindingKind::AtrialFlutter, end));
                self.flutter_from = None;
            }
            _ => {}
        }
    }

    /// Feeds the VF/flutter decision, once a second over the last
    /// `VF_WINDOW_S`; a window with any unusable signal is never VF.
    fn check_vf(&mut self, block: &[f64], block_start: usize, events: &mut Vec<StreamEvent>) {
        for (i, &x) in block.iter().enumerate() {
            let Some(w) = self.vf.push(x) else {
                continue;
            };
            let end = block_start + i + 1;
            let start = end - w.len();
            let classified_to = end.min(self.quality_end());
            let usable = unusable_share(&self.quality, start, classified_to) == 0.0
                && w.iter().all(|v| v.is_finite());
            let positive = usable
                && vf_measures(ArrayView1::from(&w[..]), self.fs_hz)
                    .is_some_and(|m| m.is_fibrillatory());
            match self.vf.decide(positive, start) {
                VfChange::Onset { run_start } => {
                    // VF supersedes the rate and pause findings it would
                    // otherwise be read as.
                    if self.tachy {
                        self.tachy = false;
                        events.push(self.end(FindingKind::ExtremeTachycardia, end));
                    }
                    if let Some(kind) = self.pause.take() {
                        events.push(self.end(kind, end));
                    }
                    events.push(StreamEvent::Onset(self.finding(
                        FindingKind::VentricularFibrillation,
                        run_start,
                        end,
                        format!(
                            "fibrillatory waveform for {:.0} s",
                            (end - run_start) as f64 / self.fs_hz
                        ),
                    )));
                }
                VfChange::End => {
                    events.push(self.end(FindingKind::VentricularFibrillation, end));
                }
                VfChange::None => {}
            }
        }
    }

    /// The patient is paced (their record says so): from the next beat,
    /// paced beats are not read as a ventricular rhythm (one already open
    /// ends at its next beat that is not ventricular). VT is still
    /// detected.
    pub fn set_paced(&mut self, paced: bool) {
        self.paced = paced;
    }

    /// Ventricular tachycardia from the classified beats: `VT_BEATS`
    /// consecutive ventricular beats above `VT_BPM`, none over unusable
    /// signal; it ends at the next beat that is not ventricular. Every
    /// ventricular beat counts: the classifier's second stage keeps
    /// aberrant, nodal and noisy beats out of the class, and the width
    /// requirement VT used to add on top missed runs whose alternate beats
    /// are only 1.3× wider than the normal ones (MIT-BIH 223, DS1).
    ///
    /// The same run at `VT_BPM` or slower is a ventricular rhythm
    /// (idioventricular, or accelerated idioventricular at 50–100 /min:
    /// an escape or ectopic ventricular focus), unless the patient is
    /// paced; should it speed up past `VT_BPM`, it becomes VT.
    fn on_class(&mut self, r: usize, class: BeatClass, events: &mut Vec<StreamEvent>) {
        if class != BeatClass::Ventricular {
            self.v_run.clear();
            self.v_run_len = 0;
            if self.vt {
                self.vt = false;
                events.push(self.end(FindingKind::VentricularTachycardia, r));
            }
            if self.vent_rhythm {
                self.vent_rhythm = false;
                events.push(self.end(FindingKind::VentricularRhythm, r));
            }
            return;
        }
        if self.v_run_len == 0 {
            self.v_run_start = r;
        }
        self.v_run_len += 1;
        self.v_run.push_back(r);
        if self.v_run.len() > VT_BEATS {
            self.v_run.pop_front();
        }
        let n = self.v_run_len;
        if self.vt || n < VT_BEATS || self.vf.is_active() {
            return;
        }
        let (first, last) = (self.v_run[0], self.v_run[VT_BEATS - 1]);
        let rate = 60.0 * (VT_BEATS - 1) as f64 * self.fs_hz / (last - first).max(1) as f64;
        let clean = unusable_share(&self.quality, first, last.min(self.quality_end())) == 0.0;
        if !clean {
            return;
        }
        if rate > VT_BPM {
            if self.vent_rhythm {
                self.vent_rhythm = false;
                events.push(self.end(FindingKind::VentricularRhythm, r));
            }
            self.vt = true;
            events.push(StreamEvent::Onset(self.finding(
                FindingKind::VentricularTachycardia,
                self.v_run_start,
                r,
                format!("{n} ventricular beats at {rate:.0} /min"),
            )));
        } else if !self.vent_rhythm && !self.paced {
            self.vent_rhythm = true;
            events.push(StreamEvent::Onset(self.finding(
                FindingKind::VentricularRhythm,
                self.v_run_start,
                r,
                format!("{n} ventricular beats at {rate:.0} /min"),
            )));
        }
    }

    /// The end of the last classified quality window.
    fn quality_end(&self) -> usize {
        self.quality
            .last()
            .map_or(0, |w| w.start_sample + w.samples)
    }

    fn check_pause(&mut self, now: usize, events: &mut Vec<StreamEvent>) {
        // No beats in VF is the VF, not an asystole.
        if self.pause.is_some() || self.vf.is_active() {
            return;
        }
        let last = self.recent_beats.last().copied().unwrap_or(0);
        let latency = (0.2 * self.fs_hz) as usize;
        let limit = (ASYSTOLE_S * self.fs_hz).ceil() as usize;
        if now.saturating_sub(latency) < last + limit {
            return;
        }
        let bad = unusable_share(&self.quality, last, now.saturating_sub(latency));
        let secs = (now - last) as f64 / self.fs_hz;
        let (kind, detail) = if bad >= 0.5 {
            (
                FindingKind::EcgSignalUnusable,
                format!("no beat for {secs:.1} s over unusable signal: check leads"),
            )
        } else {
            (FindingKind::Asystole, format!("no beat for {secs:.1} s"))
        };
        events.push(StreamEvent::Onset(self.finding(kind, last, now, detail)));
        self.pause = Some(kind);
    }
}

/// Shortest run of intervals judged for regularity.
const REGULAR_MIN: usize = 16;
/// A run is regular when 85 % of its successive differences are under 10 %
/// of its mean interval. 10 % is Dash et al.'s normalised-RMSSD threshold
/// for AF (module `rhythm`); the 15 % allowance keeps an occasional
/// premature beat (two large differences) from making sinus rhythm look
/// irregular, while a run with more than about a sixth of AF fails.
const REGULAR_SHARE: f64 = 0.85;
const REGULAR_DIFF: f64 = 0.10;

fn is_regular(rr: &[f64]) -> bool {
    if rr.len() < REGULAR_MIN {
        return false;
    }
    let mean = rr.iter().sum::<f64>() / rr.len() as f64;
    let small = rr
        .windows(2)
        .filter(|w| (w[1] - w[0]).abs() < REGULAR_DIFF * mean)
        .count();
    small as f64 >= REGULAR_SHARE * (rr.len() - 1) as f64
}

/// The longest regular run of `intervals` (first beat, ms) at their end
/// (`at_end`) or beginning: its length, or `None` when there is none. AF's
/// window spans 128 intervals, so its decision flips a window's worth
/// after the rhythm changed; the regular run says where it changed.
fn regular_run(intervals: &[(usize, f64)], at_end: bool) -> Option<usize> {
    let rr: Vec<f64> = intervals.iter().map(|i| i.1).collect();
    let n = rr.len();
    (REGULAR_MIN..n)
        .rev()
        .find(|&k| is_regular(if at_end { &rr[n - k..] } else { &rr[..k] }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ecg::qrs::tests::synthetic;

    #[test]
    fn sample_column_with_header_blanks_and_missing() {
        let v = parse_sample_column("\"MLII\"\n0.1\n\n-0.25,\nNaN\n3e-2\n").unwrap();
        assert_eq!(v.len(), 4);
        assert!(v[2].is_nan());
        assert_eq!(v[3], 0.03);
        assert_eq!(parse_sample_column("1\n2\n").unwrap(), [1.0, 2.0]);
    }

    #[test]
    fn sample_column_errors_name_the_line() {
        let err = parse_sample_column("mv\n0.1\n0.2\nabc\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 4: `abc` is not a number (expected one sample per line)"
        );
        let err = parse_sample_column("0.1,0.2\n").unwrap_err();
        assert!(matches!(err, Error::NoSamples), "{err}");
        let err = parse_sample_column("0.1\n0.1,0.2\n").unwrap_err();
        assert!(matches!(err, Error::BadSampleRow { line: 2, .. }), "{err}");
        assert!(matches!(
            parse_sample_column("inf\n1\ninf").unwrap_err(),
            Error::BadSampleRow { line: 3, .. }
        ));
        assert!(matches!(
            parse_sample_column("").unwrap_err(),
            Error::NoSamples
        ));
    }

    #[test]
    fn stream_raises_and_clears_asystole() {
        let fs = 250.0;
        let (mut x, _) = synthetic(fs, 30.0, 0.8, 1.0);
        // 6 s of pause with baseline noise only (true asystole, not flat).
        for (i, v) in x.iter_mut().enumerate().skip(10 * 250).take(6 * 250) {
            *v = 0.03 * (i as f64 * 0.02).sin();
        }
        let mut stream = EcgStream::new(fs).unwrap();
        let mut events = Vec::new();
        for block in x.as_slice().unwrap().chunks(500) {
            events.extend(stream.push(block).events);
        }
        let kinds: Vec<String> = events
            .iter()
            .map(|e| match e {
                StreamEvent::Onset(f) => format!("onset {:?}", f.kind),
                StreamEvent::End { kind, .. } => format!("end {kind:?}"),
            })
            .collect();
        assert_eq!(kinds, ["onset Asystole", "end Asystole"]);
        let report = analyze_ecg(x.view(), fs).unwrap();
        assert_eq!(report.findings.len(), 1, "{}", report);
        assert_eq!(report.findings[0].kind, FindingKind::Asystole);
    }

    /// Issue 10: AF decided over 128 intervals used to start a window early
    /// and end a window late (222: 1,215 s reported for 104 s of AF). The
    /// onset and end are now placed where the rhythm changed.
    #[test]
    fn a_steady_fast_rhythm_reads_steady_at_every_block_end() {
        // 110 /min, read at the end of every 1-s block: a beat whose
        // confirmation is still pending must not pull the reading down.
        let fs = 250.0;
        let n = (120.0 * fs) as usize;
        let mut x = vec![0.0; n];
        let mut t = 0.5;
        while t < 120.0 {
            let c = (t * fs) as usize;
            for (i, v) in x
                .iter_mut()
                .enumerate()
                .take((c + 100).min(n))
                .skip(c.saturating_sub(25))
            {
                let dt = (i as f64 - c as f64) / fs;
                *v += (-(dt / 0.012).powi(2)).exp() + 0.2 * (-((dt - 0.25) / 0.05).powi(2)).exp();
            }
            t += 60.0 / 110.0;
        }
        let mut stream = EcgStream::new(fs).unwrap();
        let readings: Vec<f64> = x
            .chunks(250)
            .filter_map(|block| stream.push(block).hr_bpm)
            .skip(10)
            .collect();
        assert!(readings.len() > 100);
        for hr in readings {
            assert!((hr - 110.0).abs() < 2.0, "read {hr} /min at 110 /min");
        }
    }

    #[test]
    fn af_is_placed_where_the_rhythm_becomes_and_stops_being_irregular() {
        let fs = 250.0;
        // Sinus at 75 /min for 2 min, AF (RR 0.45–1.05 s, uncorrelated)
        // for 3 min, sinus for 3 min.
        let mut beats = Vec::new();
        let (mut t, mut seed) = (0.5f64, 12345u64);
        while t < 480.0 {
            beats.push(t);
            let rr = if (120.0..300.0).contains(&t) {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                0.45 + 0.6 * ((seed >> 11) as f64 / (1u64 << 53) as f64)
            } else {
                0.8
            };
            t += rr;
        }
        let n = (480.0 * fs) as usize;
        let mut x = vec![0.0; n];
        for &b in &beats {
            let c = (b * fs) as usize;
            let from = c.saturating_sub(25);
            for (i, v) in x.iter_mut().enumerate().take((c + 100).min(n)).skip(from) {
                let dt = (i as f64 - c as f64) / fs;
                *v += (-(dt / 0.012).powi(2)).exp() + 0.2 * (-((dt - 0.25) / 0.05).powi(2)).exp();
            }
        }
        let mut stream = EcgStream::new(fs).unwrap();
        let mut af = Vec::new();
        for block in x.chunks(250) {
            for e in stream.push(block).events {
                match e {
                    StreamEvent::Onset(f) if f.kind == FindingKind::AtrialFibrillation => {
                        af.push(("onset", f.start_s));
                    }
                    StreamEvent::End {
                        kind: FindingKind::AtrialFibrillation,
                        time_s,
                        ..
                    } => {
                        af.push(("end", time_s));
                    }
                    _ => {}
                }
            }
        }
        assert_eq!(af.len(), 2, "one AF episode: {af:?}");
        assert!((af[0].1 - 120.0).abs() < 20.0, "onset at {af:?}");
        assert!((af[1].1 - 300.0).abs() < 20.0, "end at {af:?}");
    }

    #[test]
    fn lead_off_is_technical_not_asystole() {
        let fs = 250.0;
        let (mut x, _) = synthetic(fs, 30.0, 0.8, 1.0);
        x.iter_mut()
            .skip(10 * 250)
            .take(8 * 250)
            .for_each(|v| *v = 0.0);
        let report = analyze_ecg(x.view(), fs).unwrap();
        assert!(
            report
                .findings
                .iter()
                .all(|f| f.kind == FindingKind::EcgSignalUnusable),
            "{report}"
        );
        assert!(!report.findings.is_empty());
        let mut stream = EcgStream::new(fs).unwrap();
        let mut onsets = Vec::new();
        for block in x.as_slice().unwrap().chunks(500) {
            for e in stream.push(block).events {
                if let StreamEvent::Onset(f) = e {
                    onsets.push(f.kind);
                }
            }
        }
        assert_eq!(onsets, [FindingKind::EcgSignalUnusable]);
    }

    /// Issue 9, item 12: the text said "140 bpm over the last 17 beats"
    /// for a patient running at 178: the rule's average had only just
    /// crossed its threshold. It now gives the rate now and the rule.
    #[test]
    fn a_tachycardia_onset_states_the_rate_now_and_the_rule() {
        let fs = 250.0;
        let (slow, _) = crate::ecg::qrs::tests::synthetic(fs, 20.0, 0.8, 1.0);
        let (fast, _) = crate::ecg::qrs::tests::synthetic(fs, 20.0, 60.0 / 180.0, 1.0);
        let x: Vec<f64> = slow.iter().chain(fast.iter()).copied().collect();
        let mut stream = EcgStream::new(fs).unwrap();
        let mut onsets = Vec::new();
        for block in x.chunks(500) {
            for e in stream.push(block).events {
                if let StreamEvent::Onset(f) = e
                    && f.kind == FindingKind::ExtremeTachycardia
                {
                    onsets.push(f.detail);
                }
            }
        }
        assert_eq!(onsets.len(), 1, "{onsets:?}");
        let rate: f64 = onsets[0]
            .strip_prefix("HR ")
            .and_then(|r| r.split(' ').next())
            .and_then(|r| r.parse().ok())
            .unwrap_or_else(|| panic!("{}", onsets[0]));
        assert!((175.0..=185.0).contains(&rate), "{}", onsets[0]);
        assert!(
            onsets[0].ends_with("/min, > 140 for 17 beats"),
            "{}",
            onsets[0]
        );
    }

    /// Issue 10: a run of wide ventricular beats above 100 /min is a VT
    /// finding that starts in the run and ends with the first normal beat;
    /// isolated wide beats are not.
    #[test]
    fn a_run_of_wide_beats_is_ventricular_tachycardia_and_single_ones_are_not() {
        let fs = 250.0;
        let n = (fs * 60.0) as usize;
        let mut x = vec![0.0; n];
        let mut add = |at_s: f64, amp: f64, width_s: f64| {
            let c = at_s * fs;
            for (i, v) in x.iter_mut().enumerate() {
                let dt = (i as f64 - c) / fs;
                if dt.abs() < 0.3 {
                    *v += amp * (-(dt / width_s).powi(2)).exp();
                }
            }
        };
        let mut t = 0.5;
        let mut run = (0.0, 0.0);
        while t < 59.0 {
            if (30.0..33.0).contains(&t) {
                // VT: wide, inverted complexes at 150 /min.
                if run.0 == 0.0 {
                    run.0 = t;
                }
                add(t, -1.2, 0.045);
                run.1 = t;
                t += 0.4;
            } else {
                // Sinus at 75 /min, with an isolated PVC at 15 s.
                let pvc = (14.9..15.7).contains(&t);
                if pvc {
                    add(t - 0.25, -1.2, 0.045);
                } else {
                    add(t, 1.0, 0.012);
                }
                t += 0.8;
            }
        }
        let mut stream = EcgStream::new(fs).unwrap();
        let (mut onsets, mut ends) = (Vec::new(), Vec::new());
        for block in x.chunks(250) {
            for e in stream.push(block).events {
                match e {
                    StreamEvent::Onset(f) if f.kind == FindingKind::VentricularTachycardia => {
                        onsets.push(f.start_s)
                    }
                    StreamEvent::End {
                        kind: FindingKind::VentricularTachycardia,
                        time_s,
                        ..
                    } => ends.push(time_s),
                    _ => {}
                }
            }
        }
        assert_eq!(onsets.len(), 1, "{onsets:?}");
        assert!(
            (run.0 - 0.2..=run.1).contains(&onsets[0]),
            "{onsets:?} {run:?}"
        );
        assert_eq!(ends.len(), 1, "{ends:?}");
        assert!(ends[0] > run.1 && ends[0] < run.1 + 2.0, "{ends:?} {run:?}");
    }

    /// Issue 10: beats over signal the quality check calls unusable are
    /// left unclassified, however unlike the template they look; the
    /// same premature wide beats over clean signal are ventricular.
    #[test]
    fn beats_over_unusable_signal_are_not_classified() {
        let fs = 250.0;
        let n = (fs * 60.0) as usize;
        let mut x = vec![0.0; n];
        let mut add = |at_s: f64, amp: f64, width_s: f64| {
            let c = at_s * fs;
            for (i, v) in x.iter_mut().enumerate() {
                let dt = (i as f64 - c) / fs;
                if dt.abs() < 0.3 {
                    *v += amp * (-(dt / width_s).powi(2)).exp();
                }
            }
        };
        // Sinus at 75 /min with every fourth beat a PVC 250 ms early.
        let mut t = 0.5;
        let mut k = 0;
        while t < 59.0 {
            if k % 4 == 3 && k > 20 {
                add(t - 0.25, -1.2, 0.045);
            } else {
                add(t, 1.0, 0.012);
                add(t + 0.25, 0.2, 0.05);
            }
            t += 0.8;
            k += 1;
        }
        // Some baseline wander (a trace exactly at zero reads as clipped).
        for (i, v) in x.iter_mut().enumerate() {
            *v += 0.05 * (2.0 * std::f64::consts::PI * 0.3 * i as f64 / fs).sin();
        }
        // 30–42 s: muscle noise, broadband, ±0.4 mV.
        let mut seed = 7u64;
        for v in x.iter_mut().take(42 * 250).skip(30 * 250) {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *v += 0.8 * ((seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5);
        }
        let mut stream = EcgStream::new(fs).unwrap();
        let mut classes = Vec::new();
        for block in x.chunks(250) {
            classes.extend(stream.push(block).classes);
        }
        let at = |a: f64, b: f64| {
            classes
                .iter()
                .filter(move |(r, _)| (a * fs..b * fs).contains(&(*r as f64)))
                .map(|c| c.1)
        };
        assert!(at(33.0, 40.0).count() > 5);
        assert!(
            at(33.0, 40.0).all(|c| c == BeatClass::Unknown),
            "{:?}",
            at(33.0, 40.0).collect::<Vec<_>>()
        );
        assert!(
            at(45.0, 58.0)
                .filter(|&c| c == BeatClass::Ventricular)
                .count()
                >= 3
        );
        assert!(
            at(45.0, 58.0).all(|c| c != BeatClass::Unknown),
            "{:?}",
            at(45.0, 58.0).collect::<Vec<_>>()
        );
    }

    /// Issue 10: a run of wide, bizarre beats slower than 100 /min (an
    /// idioventricular rhythm, as in MIT-BIH 124) is ventricular beat by
    /// beat but not ventricular tachycardia, by the alarm's definition.
    #[test]
    fn a_slow_ventricular_run_is_ventricular_beats_but_not_vt() {
        let fs = 250.0;
        let n = (fs * 70.0) as usize;
        let mut x = vec![0.0; n];
        let mut add = |at_s: f64, amp: f64, width_s: f64| {
            let c = at_s * fs;
            for (i, v) in x.iter_mut().enumerate() {
                let dt = (i as f64 - c) / fs;
                if dt.abs() < 0.4 {
                    *v += amp * (-(dt / width_s).powi(2)).exp();
                }
            }
        };
        // Sinus at 75 /min; 35–50 s the sinus slows and a wide,
        // inverted ventricular rhythm takes over at 70 /min.
        let mut t = 0.5;
        let mut run = Vec::new();
        while t < 69.0 {
            if (35.0..50.0).contains(&t) {
                add(t, -1.0, 0.05);
                add(t + 0.35, 0.3, 0.08);
                run.push(t);
                t += 60.0 / 70.0;
            } else {
                add(t, 1.0, 0.012);
                add(t + 0.25, 0.2, 0.05);
                t += 0.8;
            }
        }
        for (i, v) in x.iter_mut().enumerate() {
            *v += 0.05 * (2.0 * std::f64::consts::PI * 0.3 * i as f64 / fs).sin();
        }
        let mut stream = EcgStream::new(fs).unwrap();
        let (mut classes, mut vt) = (Vec::new(), Vec::new());
        for block in x.chunks(250) {
            let update = stream.push(block);
            classes.extend(update.classes);
            vt.extend(update.events.into_iter().filter(|e| {
                matches!(e, StreamEvent::Onset(f) if f.kind == FindingKind::VentricularTachycardia)
            }));
        }
        let in_run: Vec<BeatClass> = classes
            .iter()
            .filter(|(r, _)| run.iter().any(|&t| (*r as f64 / fs - t).abs() < 0.1))
            .map(|c| c.1)
            .collect();
        assert!(in_run.len() >= 15, "{in_run:?}");
        let v = in_run
            .iter()
            .filter(|&&c| c == BeatClass::Ventricular)
            .count();
        assert!(v * 10 >= in_run.len() * 8, "{in_run:?}");
        assert!(vt.is_empty(), "{vt:?}");
    }

    /// Issue 10: AF with a fast, irregular ventricular response brings
    /// short intervals whose complexes carry the previous T wave, and
    /// families of such beats are "premature"; that must not be read as
    /// runs of ventricular beats. The beat model is the simulator's
    /// (ECGSYN's five Gaussians without the P wave, 6 Hz fibrillatory
    /// waves), at 130 /min with an RR coefficient of variation of 25 %.
    #[test]
    fn fast_atrial_fibrillation_is_not_ventricular_tachycardia() {
        let fs = 250.0;
        let seconds = 600.0;
        let n = (fs * seconds) as usize;
        let mut x = vec![0.0; n];
        let mut seed = 99u64;
        let mut unit = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let normal = move |u: &mut dyn FnMut() -> f64| {
            let (u1, u2) = (u(), u());
            (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        };
        let wave =
            |d: f64, amp: f64, mu: f64, sd: f64| amp * (-0.5 * ((d - mu) / sd).powi(2)).exp();
        let mut t = 0.5;
        while t < seconds - 1.0 {
            let z = normal(&mut unit);
            let rr = (60.0 / 130.0 * (0.25 * z - 0.03125).exp()).clamp(0.22, 3.0);
            let s = rr.sqrt().clamp(0.5, 1.3);
            let (from, to) = (
                ((t - 0.45) * fs) as usize,
                (((t + 0.9) * fs) as usize).min(n),
            );
            for (i, v) in x.iter_mut().enumerate().take(to).skip(from) {
                let d = i as f64 / fs - t;
                *v += wave(d, -0.12, -0.035, 0.008)
                    + wave(d, 1.3, 0.0, 0.011)
                    + wave(d, -0.3, 0.035, 0.010)
                    + wave(d, 0.32, 0.27 * s, 0.055 * s);
            }
            t += rr;
        }
        let mut phase = 0.0;
        for (i, v) in x.iter_mut().enumerate() {
            let t = i as f64 / fs;
            phase += 0.05 * normal(&mut unit);
            *v += 0.06 * (std::f64::consts::TAU * 0.25 * t).sin()
                + 0.05 * (std::f64::consts::TAU * 6.0 * t + phase).sin()
                + 0.012 * normal(&mut unit);
        }
        let mut stream = EcgStream::new(fs).unwrap();
        let (mut classes, mut vt) = (Vec::new(), Vec::new());
        for block in x.chunks(250) {
            let update = stream.push(block);
            classes.extend(update.classes);
            vt.extend(update.events.into_iter().filter(|e| {
                matches!(e, StreamEvent::Onset(f) if f.kind == FindingKind::VentricularTachycardia)
            }));
        }
        let v = classes
            .iter()
            .filter(|c| c.1 == BeatClass::Ventricular)
            .count();
        assert!(vt.is_empty(), "{vt:?}");
        assert!(
            v * 100 <= classes.len(),
            "{v} of {} ventricular",
            classes.len()
        );
    }

    #[test]
    fn report_serialises_and_displays() {
        let (x, truth) = synthetic(250.0, 20.0, 0.75, 1.0);
        let r = analyze_ecg(x.view(), 250.0).unwrap();
        assert_eq!(r.beat_count, truth.len());
        assert!((r.mean_hr_bpm.unwrap() - 80.0).abs() < 0.5);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["r_peaks"].as_array().unwrap().len(), truth.len());
        assert!(r.to_string().contains("mean heart rate 80 bpm"), "{r}");
        assert!(analyze_ecg(x.view(), 0.0).is_err());
    }
}
