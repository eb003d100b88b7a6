//! Evaluation on the whole MIT-BIH Arrhythmia Database (issue 10), of the
//! live path that raises alarms (`EcgStream`, fed one second at a time, on
//! each record's first signal):
//!
//! - QRS detection beat by beat, ±150 ms (AAMI EC57 / `bxb` conventions),
//!   gross and per record; the gross figures also with the reference
//!   ventricular flutter/fibrillation intervals left out, as EC57 scores
//!   QRS detection (207's flutter has no beats, and its undulation is
//!   counted as detections otherwise);
//! - AF duration sensitivity and positive predictivity against the rhythm
//!   annotations (`(AFIB`), and the records without AF where AF is reported;
//! - VT episodes: runs of ≥ 5 consecutive reference `V` beats, and whether
//!   a VT (or VF) finding overlaps each; episode +P over the VT findings
//!   (true when one overlaps such a run, a `(VT` rhythm interval or a
//!   VF/VFL interval);
//! - VF/flutter: the reference `(VFL`/`(VF` intervals and the VF findings;
//! - every asystole finding, with its record and time;
//! - both leads, each through its own `EcgStream` as the runtime analyses
//!   every lead a bed streams: AF duration reported by either lead and by
//!   both, runs found by a VT, VF or ventricular rhythm finding of either
//!   lead, and the +P of both leads' VT findings (the runtime takes AF
//!   and ventricular rhythm from one lead, `scoring::Bed::rhythm_lead`,
//!   and decides VT and VF over every lead);
//! - the bed's decisions over both leads (`BedsideStream`, what raises the
//!   runtime's alarms): runs found by its confirmed VT or VF (or the first
//!   lead's ventricular rhythm), the +P of its confirmed VT episodes, and
//!   how many VT or VF findings it suppressed.
//!
//! Prints a table and one JSON object (last line) for `bench/score/run.sh`.
//! It measures; it asserts nothing.
//!
//! Usage: `cargo run --release -p wardwatch-score --example eval_mitdb [DATA_DIR]`
//!
//! With `EVAL_MITDB_TRACE=NAME` it also prints, on stderr, record NAME's
//! reference rhythm labels, the AF episodes it reported and the reference
//! runs of ventricular beats no ventricular finding overlapped: for
//! reviewing one record's rhythm findings beside its annotations.

use std::path::{Path, PathBuf};
use std::time::Instant;

use wardwatch_score::analysis::{EcgStream, StreamEvent};
use wardwatch_score::bedside::{BedsideEvent, BedsideStream, Channel, ChannelKind, Verdict};
use wardwatch_score::ecg::beats::BeatClass;
use wardwatch_score::ecg::compare_beats;
use wardwatch_score::ecg::rhythm::FindingKind;
use wardwatch_wfdb::{Annotation, Record, read_annotations};

/// The 48 records.
const RECORDS: [&str; 48] = [
    "100", "101", "102", "103", "104", "105", "106", "107", "108", "109", "111", "112", "113",
    "114", "115", "116", "117", "118", "119", "121", "122", "123", "124", "200", "201", "202",
    "203", "205", "207", "208", "209", "210", "212", "213", "214", "215", "217", "219", "220",
    "221", "222", "223", "228", "230", "231", "232", "233", "234",
];

/// The paced records, left out of beat-class figures (AAMI EC57).
const PACED: [&str; 4] = ["102", "104", "107", "217"];
/// The test half of the inter-patient split (de Chazal et al., IEEE TBME
/// 51:1196, 2004); the development half (DS1) is the other 22 unpaced.
const DS2: [&str; 22] = [
    "100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210", "212", "213",
    "214", "219", "221", "222", "228", "231", "232", "233", "234",
];

#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    tp: usize,
    fn_: usize,
    fp: usize,
}

/// Intervals (start, end) in samples.
type Spans = Vec<(usize, usize)>;

fn overlap(a: &Spans, b: &Spans) -> usize {
    let mut total = 0;
    for &(s1, e1) in a {
        for &(s2, e2) in b {
            let (s, e) = (s1.max(s2), e1.min(e2));
            if e > s {
                total += e - s;
            }
        }
    }
    total
}

/// The union of possibly overlapping spans (findings of one kind may
/// overlap: an onset placed back at its window's start).
fn union(mut a: Spans) -> Spans {
    a.sort_unstable();
    let mut out: Spans = Vec::new();
    for (s, e) in a {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// The stretches in both `a` and `b`.
fn intersection(a: &Spans, b: &Spans) -> Spans {
    let mut out = Spans::new();
    for &(s1, e1) in a {
        for &(s2, e2) in b {
            let (s, e) = (s1.max(s2), e1.min(e2));
            if s < e {
                out.push((s, e));
            }
        }
    }
    union(out)
}

/// How many spans of `a` overlap a span of `b`.
fn hits(a: &Spans, b: &Spans) -> usize {
    a.iter().filter(|s| overlap(&vec![**s], b) > 0).count()
}

fn length(a: &Spans) -> usize {
    a.iter().map(|(s, e)| e - s).sum()
}

/// Reference rhythm intervals whose label starts with one of `labels`.
fn rhythm_spans(anns: &[Annotation], labels: &[&str], n: usize) -> Spans {
    let changes: Vec<(usize, &str)> = anns
        .iter()
        .filter(|a| a.symbol() == "+")
        .filter_map(|a| Some((a.sample as usize, a.aux.as_deref()?)))
        .collect();
    let mut out = Vec::new();
    for (k, &(at, label)) in changes.iter().enumerate() {
        let label = label.trim_end_matches('\0');
        if labels.contains(&label) {
            let end = changes.get(k + 1).map_or(n, |c| c.0);
            out.push((at, end));
        }
    }
    out
}

/// Runs of at least 5 consecutive reference `V` beats; with `min_bpm`,
/// only those with 5 consecutive `V` beats faster than that on average
/// (the alarm's definition of VT: ≥ 5 ventricular beats at > 100 /min;
/// slower runs are idioventricular rhythm).
fn v_runs(anns: &[Annotation], fs: f64, min_bpm: Option<f64>) -> Spans {
    let beats: Vec<&Annotation> = anns.iter().filter(|a| a.is_beat()).collect();
    let mut out = Vec::new();
    let mut k = 0;
    while k < beats.len() {
        if beats[k].symbol() != "V" {
            k += 1;
            continue;
        }
        let first = k;
        while k < beats.len() && beats[k].symbol() == "V" {
            k += 1;
        }
        let fast = |min: f64| {
            beats[first..k].windows(5).any(|w| {
                let span = (w[4].sample - w[0].sample) as f64 / fs;
                span > 0.0 && 60.0 * 4.0 / span > min
            })
        };
        if k - first >= 5 && min_bpm.is_none_or(fast) {
            out.push((
                beats[first].sample as usize,
                beats[k - 1].sample as usize + 1,
            ));
        }
    }
    out
}

struct RecordResult {
    name: String,
    duration_s: f64,
    qrs: Tally,
    qrs_ec57: Tally,
    veb: Tally,
    af_ref: Spans,
    af_det: Spans,
    /// The reference's `(AFL` intervals, and the flutter reported.
    afl_ref: Spans,
    afl_det: Spans,
    vt_ref: Spans,
    vt_fast_ref: Spans,
    vt_det: Spans,
    vr_det: Spans,
    /// The reference's `(IVR` (idioventricular rhythm) intervals.
    ivr_ref: Spans,
    /// The reference's `(VT` rhythm intervals.
    vt_rhythm_ref: Spans,
    vf_ref: Spans,
    vf_det: Spans,
    asystole_s: Vec<f64>,
    seconds: f64,
    /// The second lead's findings, where the record has one.
    second: Option<LeadFindings>,
    /// The bed's VT and VF decisions over both leads.
    bed: BedVentricular,
}

impl RecordResult {
    /// Every ventricular finding: VT, VF/flutter and ventricular rhythm.
    fn ventricular(&self) -> Spans {
        ventricular(&self.vt_det, &self.vf_det, &self.vr_det)
    }
}

/// VT, VF/flutter and ventricular rhythm findings together.
fn ventricular(vt: &Spans, vf: &Spans, vr: &Spans) -> Spans {
    vt.iter().chain(vf).chain(vr).copied().collect()
}

/// What the live path (`EcgStream`, fed a second at a time) reports on one
/// lead.
struct LeadFindings {
    beats: Vec<usize>,
    classes: Vec<(usize, BeatClass)>,
    af_det: Spans,
    afl_det: Spans,
    vt_det: Spans,
    vf_det: Spans,
    vr_det: Spans,
    asystole_s: Vec<f64>,
}

impl LeadFindings {
    /// Every ventricular finding: VT, VF/flutter and ventricular rhythm.
    fn ventricular(&self) -> Spans {
        ventricular(&self.vt_det, &self.vf_det, &self.vr_det)
    }
}

fn analyse_lead(
    mv: &[f64],
    fs: f64,
    paced: bool,
) -> Result<LeadFindings, Box<dyn std::error::Error>> {
    let mut stream = EcgStream::new(fs)?;
    // The paced records are described as paced in the database's
    // directory: a clinician would set the patient's pacemaker.
    stream.set_paced(paced);
    let mut beats = Vec::new();
    let mut classes: Vec<(usize, BeatClass)> = Vec::new();
    let mut open: Vec<(FindingKind, usize)> = Vec::new();
    let (mut af_det, mut vt_det, mut vf_det) = (Spans::new(), Spans::new(), Spans::new());
    let (mut vr_det, mut afl_det) = (Spans::new(), Spans::new());
    let mut asystole_s = Vec::new();
    let mut close = |kind: FindingKind, start: usize, end: usize| match kind {
        FindingKind::AtrialFibrillation => af_det.push((start, end)),
        FindingKind::AtrialFlutter => afl_det.push((start, end)),
        FindingKind::VentricularTachycardia => vt_det.push((start, end)),
        FindingKind::VentricularFibrillation => vf_det.push((start, end)),
        FindingKind::VentricularRhythm => vr_det.push((start, end)),
        _ => {}
    };
    let block = fs as usize;
    for chunk in mv.chunks(block) {
        let update = stream.push(chunk);
        beats.extend(update.beats.iter().map(|b| b.sample));
        classes.extend(update.classes);
        for event in update.events {
            match event {
                StreamEvent::Onset(f) => {
                    if f.kind == FindingKind::Asystole {
                        asystole_s.push(f.start_s);
                    }
                    open.push((f.kind, f.start_sample));
                }
                StreamEvent::End { kind, sample, .. } => {
                    if let Some(i) = open.iter().position(|(k, _)| *k == kind) {
                        let (_, start) = open.remove(i);
                        close(kind, start, sample);
                    }
                }
            }
        }
    }
    for (kind, start) in open {
        close(kind, start, mv.len());
    }
    Ok(LeadFindings {
        beats,
        classes,
        af_det: union(af_det),
        afl_det: union(afl_det),
        vt_det,
        vf_det: union(vf_det),
        vr_det,
        asystole_s,
    })
}

/// What the bed decides over both leads (`BedsideStream`, as the runtime
/// runs it, one-second blocks of each lead in turn): the confirmed VT and
/// VF episodes (from the decision to the bed's end of the finding) and how
/// many VT or VF findings it suppressed.
struct BedVentricular {
    vt: Spans,
    vf: Spans,
    suppressed: usize,
}

fn bed_ventricular(
    leads: &[(String, Vec<f64>)],
    fs: f64,
    paced: bool,
) -> Result<BedVentricular, Box<dyn std::error::Error>> {
    let channels = leads
        .iter()
        .map(|(name, _)| Channel {
            name: name.clone(),
            kind: ChannelKind::Ecg,
            fs_hz: fs,
        })
        .collect();
    let mut bed = BedsideStream::new(channels)?;
    bed.set_paced(paced);
    let sample = |t: f64| (t * fs).round().max(0.0) as usize;
    let mut out = BedVentricular {
        vt: Spans::new(),
        vf: Spans::new(),
        suppressed: 0,
    };
    let mut open: Vec<(FindingKind, usize)> = Vec::new();
    let block = fs as usize;
    let n = leads.iter().map(|(_, x)| x.len()).max().unwrap_or(0);
    let ventricular = |k: FindingKind| {
        matches!(
            k,
            FindingKind::VentricularTachycardia | FindingKind::VentricularFibrillation
        )
    };
    let close = |out: &mut BedVentricular, kind, start, end| match kind {
        FindingKind::VentricularTachycardia => out.vt.push((start, end)),
        _ => out.vf.push((start, end)),
    };
    for at in (0..n).step_by(block) {
        for (i, (_, x)) in leads.iter().enumerate() {
            let Some(chunk) = x.get(at..(at + block).min(x.len())) else {
                continue;
            };
            for event in bed.push(i, chunk)?.events {
                match event {
                    BedsideEvent::Decision(d) if ventricular(d.finding.kind) => match d.verdict {
                        Verdict::Suppressed => out.suppressed += 1,
                        Verdict::Confirmed => {
                            if !open.iter().any(|(k, _)| *k == d.finding.kind) {
                                open.push((d.finding.kind, sample(d.finding.start_s)));
                            }
                        }
                    },
                    BedsideEvent::End { kind, time_s } => {
                        if let Some(j) = open.iter().position(|(k, _)| *k == kind) {
                            let (_, start) = open.remove(j);
                            close(&mut out, kind, start, sample(time_s).max(start + 1));
                        }
                    }
                    BedsideEvent::Decision(_) => {}
                }
            }
        }
    }
    for (kind, start) in open {
        close(&mut out, kind, start, n);
    }
    out.vt = union(out.vt);
    out.vf = union(out.vf);
    Ok(out)
}

fn evaluate(dir: &Path, name: &str) -> Result<RecordResult, Box<dyn std::error::Error>> {
    let record = Record::open(dir.join(format!("mitdb/{name}.hea")))?;
    let fs = record.fs_hz();
    let mv = record.physical(0)?;
    let anns = read_annotations(dir.join(format!("mitdb/{name}.atr")))?;
    let reference: Vec<usize> = anns
        .iter()
        .filter(|a| a.is_beat())
        .map(|a| a.sample as usize)
        .collect();
    let started = Instant::now();
    let lead = analyse_lead(&mv, fs, PACED.contains(&name))?;
    let seconds = started.elapsed().as_secs_f64();
    // The runtime analyses every lead a bed streams (`bedside`): the second
    // lead's findings, for the figures of what either or both leads say.
    let second = if record.signals().len() > 1 {
        Some(analyse_lead(
            &record.physical(1)?,
            fs,
            PACED.contains(&name),
        )?)
    } else {
        None
    };
    let leads = (0..record.signals().len().min(2))
        .map(|i| Ok((record.signals()[i].description.clone(), record.physical(i)?)))
        .collect::<Result<Vec<_>, Box<dyn std::error::Error>>>()?;
    let bed = bed_ventricular(&leads, fs, PACED.contains(&name))?;
    let LeadFindings {
        beats,
        classes,
        af_det,
        afl_det,
        vt_det,
        vf_det,
        vr_det,
        asystole_s,
    } = lead;
    let tolerance = (0.15 * fs).round() as usize;
    let m = compare_beats(&reference, &beats, tolerance);
    // EC57 (and `bxb`) leave ventricular flutter/fibrillation out of QRS
    // scoring: beats and detections inside the reference VF/VFL intervals.
    let vf_ref = rhythm_spans(&anns, &["(VFL", "(VF"], mv.len());
    let outside = |s: &usize| !vf_ref.iter().any(|&(a, b)| (a..b).contains(s));
    let ec57 = compare_beats(
        &reference
            .iter()
            .copied()
            .filter(outside)
            .collect::<Vec<_>>(),
        &beats.iter().copied().filter(outside).collect::<Vec<_>>(),
        tolerance,
    );
    // VEB (AAMI: reference V and E) beat by beat over matched pairs; a
    // missed reference VEB is a false negative.
    let ref_classes: Vec<(usize, bool)> = anns
        .iter()
        .filter(|a| a.is_beat())
        .map(|a| (a.sample as usize, matches!(a.symbol(), "V" | "E")))
        .collect();
    let mut veb = Tally::default();
    let (mut j, mut matched_v) = (0, 0usize);
    for &(r, is_v) in &ref_classes {
        while j < classes.len() && classes[j].0 + tolerance < r {
            j += 1;
        }
        let det_v = match classes.get(j) {
            Some(&(d, class)) if d <= r + tolerance => {
                j += 1;
                Some(class == BeatClass::Ventricular)
            }
            _ => None,
        };
        match (is_v, det_v) {
            (true, Some(true)) => {
                veb.tp += 1;
                matched_v += 1;
            }
            (true, _) => veb.fn_ += 1,
            (false, Some(true)) => veb.fp += 1,
            _ => {}
        }
    }
    let _ = matched_v;
    let result = RecordResult {
        name: name.to_owned(),
        duration_s: mv.len() as f64 / fs,
        qrs: Tally {
            tp: m.true_positives,
            fn_: m.false_negatives,
            fp: m.false_positives,
        },
        qrs_ec57: Tally {
            tp: ec57.true_positives,
            fn_: ec57.false_negatives,
            fp: ec57.false_positives,
        },
        veb,
        af_ref: rhythm_spans(&anns, &["(AFIB"], mv.len()),
        af_det,
        afl_ref: rhythm_spans(&anns, &["(AFL"], mv.len()),
        afl_det,
        vt_ref: v_runs(&anns, fs, None),
        vt_fast_ref: v_runs(&anns, fs, Some(100.0)),
        vt_det,
        vr_det,
        ivr_ref: rhythm_spans(&anns, &["(IVR"], mv.len()),
        vt_rhythm_ref: rhythm_spans(&anns, &["(VT"], mv.len()),
        vf_ref,
        vf_det,
        asystole_s,
        seconds,
        second,
        bed,
    };
    if std::env::var("EVAL_MITDB_TRACE").is_ok_and(|r| r == name) {
        trace(&result, &anns, fs);
    }
    Ok(result)
}

/// One record's rhythm labels, AF episodes and missed ventricular runs
/// (`EVAL_MITDB_TRACE`).
fn trace(r: &RecordResult, anns: &[Annotation], fs: f64) {
    let s = |x: usize| x as f64 / fs;
    for a in anns {
        if let Some(label) = a.aux.as_deref().filter(|l| !l.is_empty()) {
            eprintln!(
                "{} reference {:8.1} s {label}",
                r.name,
                s(a.sample as usize)
            );
        }
    }
    for &(a, b) in &r.af_det {
        eprintln!("{} AF reported {:8.1}-{:.1} s", r.name, s(a), s(b));
    }
    let ventricular = r.ventricular();
    for &run in &r.vt_ref {
        if hits(&vec![run], &ventricular) == 0 {
            eprintln!("{} missed V run {:8.1}-{:.1} s", r.name, s(run.0), s(run.1));
        }
    }
}

fn pct(a: usize, b: usize) -> f64 {
    if b == 0 {
        100.0
    } else {
        100.0 * a as f64 / b as f64
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args_os()
        .nth(1)
        .or_else(|| std::env::var_os("WARDWATCH_TESTDATA"))
        .map_or_else(
            || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")),
            PathBuf::from,
        );
    if !dir.join("mitdb/100.hea").is_file() {
        return Err(format!("test data missing under `{}`", dir.display()).into());
    }
    let mut results = Vec::new();
    for name in RECORDS {
        results.push(evaluate(&dir, name)?);
    }
    println!(
        "{:<5}{:>7}{:>6}{:>6}{:>8}{:>8}  {:>6}{:>6}{:>6}  {:>8}{:>8}{:>8}  {:>6}{:>6}{:>6}  {:>5}{:>5}  asystole",
        "rec",
        "beats",
        "FN",
        "FP",
        "Se %",
        "+P %",
        "VEB",
        "V FN",
        "V FP",
        "AF ref",
        "AF det",
        "AF ovl",
        "Vruns",
        "found",
        "VTdet",
        "VF r",
        "VF d"
    );
    let (mut gross, mut gross_np) = (Tally::default(), Tally::default());
    let mut gross_ec57 = Tally::default();
    let (mut veb_all, mut veb_ds2) = (Tally::default(), Tally::default());
    let (mut af_ref, mut af_det, mut af_ovl) = (0usize, 0usize, 0usize);
    let (mut vt_ref, mut vt_found, mut vt_det, mut vt_true) = (0, 0, 0, 0);
    let (mut vt_fast_ref, mut vt_fast_found) = (0, 0);
    // Runs found by a VT, VF or ventricular rhythm finding; ventricular
    // rhythm findings and those true (overlapping a run of >= 5 V beats,
    // an `(IVR` or `(VT` interval); records with a false one.
    let (mut any_found, mut vr_det, mut vr_true) = (0, 0, 0);
    let mut false_vr_records = Vec::new();
    let mut false_af_records = Vec::new();
    let mut no_af_records = 0;
    let mut asystoles = Vec::new();
    // Both leads, as the runtime analyses a bed: AF reported by either lead
    // and by both; runs found by a ventricular finding of either lead, and
    // the VT findings of both leads and those true.
    let (mut af_either_det, mut af_either_ovl) = (0usize, 0usize);
    let (mut af_both_det, mut af_both_ovl) = (0usize, 0usize);
    let (mut false_af_either, mut false_af_both) = (Vec::new(), Vec::new());
    let (mut v_either_found, mut vt_either_det, mut vt_either_true) = (0, 0, 0);
    // The bed's decisions over both leads (what raises the alarms), with
    // the rhythm lead's (the first signal's) ventricular rhythm.
    let (mut bed_found, mut bed_vt, mut bed_vt_true, mut bed_suppressed) = (0, 0, 0, 0);
    let mut bed_vt_false = Vec::new();
    let (mut seconds, mut duration) = (0.0, 0.0);
    let sr = |n: usize| n as f64 / 360.0;
    for r in &results {
        let q = r.qrs;
        gross_ec57.tp += r.qrs_ec57.tp;
        gross_ec57.fn_ += r.qrs_ec57.fn_;
        gross_ec57.fp += r.qrs_ec57.fp;
        for g in [&mut gross]
            .into_iter()
            .chain((!PACED.contains(&r.name.as_str())).then_some(&mut gross_np))
        {
            g.tp += q.tp;
            g.fn_ += q.fn_;
            g.fp += q.fp;
        }
        if !PACED.contains(&r.name.as_str()) {
            for t in [&mut veb_all]
                .into_iter()
                .chain(DS2.contains(&r.name.as_str()).then_some(&mut veb_ds2))
            {
                t.tp += r.veb.tp;
                t.fn_ += r.veb.fn_;
                t.fp += r.veb.fp;
            }
        }
        let ovl = overlap(&r.af_ref, &r.af_det);
        af_ref += length(&r.af_ref);
        af_det += length(&r.af_det);
        af_ovl += ovl;
        if r.af_ref.is_empty() {
            no_af_records += 1;
            if !r.af_det.is_empty() {
                false_af_records.push(format!("{} ({:.0} s)", r.name, sr(length(&r.af_det))));
            }
        }
        // A reference run is found when a VT or VF finding overlaps it; a VT
        // finding is true when it overlaps a reference run of ≥ 5 V beats, a
        // reference `(VT` rhythm interval or a VF/VFL interval.
        let vt_and_vf: Spans = r.vt_det.iter().chain(&r.vf_det).copied().collect();
        let found = hits(&r.vt_ref, &vt_and_vf);
        vt_ref += r.vt_ref.len();
        vt_found += found;
        vt_fast_ref += r.vt_fast_ref.len();
        vt_fast_found += hits(&r.vt_fast_ref, &vt_and_vf);
        any_found += hits(&r.vt_ref, &r.ventricular());
        let vr_truth: Spans = r
            .vt_ref
            .iter()
            .chain(&r.ivr_ref)
            .chain(&r.vt_rhythm_ref)
            .copied()
            .collect();
        let vr_ok = hits(&r.vr_det, &vr_truth);
        vr_det += r.vr_det.len();
        vr_true += vr_ok;
        if vr_ok < r.vr_det.len() {
            false_vr_records.push(format!("{} ({})", r.name, r.vr_det.len() - vr_ok));
        }
        vt_det += r.vt_det.len();
        let truth: Spans = r
            .vt_ref
            .iter()
            .chain(&r.vt_rhythm_ref)
            .chain(&r.vf_ref)
            .copied()
            .collect();
        vt_true += hits(&r.vt_det, &truth);
        let (af_either, af_both, v_either, vt_second) = match &r.second {
            Some(b) => (
                union(r.af_det.iter().chain(&b.af_det).copied().collect()),
                intersection(&r.af_det, &b.af_det),
                r.ventricular().into_iter().chain(b.ventricular()).collect(),
                b.vt_det.clone(),
            ),
            None => (
                r.af_det.clone(),
                r.af_det.clone(),
                r.ventricular(),
                Spans::new(),
            ),
        };
        af_either_det += length(&af_either);
        af_either_ovl += overlap(&r.af_ref, &af_either);
        af_both_det += length(&af_both);
        af_both_ovl += overlap(&r.af_ref, &af_both);
        if r.af_ref.is_empty() {
            if !af_either.is_empty() {
                false_af_either.push(format!("{} ({:.0} s)", r.name, sr(length(&af_either))));
            }
            if !af_both.is_empty() {
                false_af_both.push(format!("{} ({:.0} s)", r.name, sr(length(&af_both))));
            }
        }
        v_either_found += hits(&r.vt_ref, &v_either);
        let bed_v: Spans = r
            .bed
            .vt
            .iter()
            .chain(&r.bed.vf)
            .chain(&r.vr_det)
            .copied()
            .collect();
        bed_found += hits(&r.vt_ref, &bed_v);
        bed_vt += r.bed.vt.len();
        let bed_true = hits(&r.bed.vt, &truth);
        bed_vt_true += bed_true;
        if bed_true < r.bed.vt.len() {
            bed_vt_false.push(format!("{} ({})", r.name, r.bed.vt.len() - bed_true));
        }
        bed_suppressed += r.bed.suppressed;
        vt_either_det += r.vt_det.len() + vt_second.len();
        vt_either_true += hits(&r.vt_det, &truth) + hits(&vt_second, &truth);
        for t in &r.asystole_s {
            asystoles.push(format!("{} at {t:.0} s", r.name));
        }
        seconds += r.seconds;
        duration += r.duration_s;
        println!(
            "{:<5}{:>7}{:>6}{:>6}{:>8.2}{:>8.2}  {:>6}{:>6}{:>6}  {:>8.0}{:>8.0}{:>8.0}  {:>6}{:>6}{:>6}  {:>5.0}{:>5.0}  {}",
            r.name,
            q.tp + q.fn_,
            q.fn_,
            q.fp,
            pct(q.tp, q.tp + q.fn_),
            pct(q.tp, q.tp + q.fp),
            r.veb.tp + r.veb.fn_,
            r.veb.fn_,
            r.veb.fp,
            sr(length(&r.af_ref)),
            sr(length(&r.af_det)),
            sr(ovl),
            r.vt_ref.len(),
            found,
            r.vt_det.len(),
            sr(length(&r.vf_ref)),
            sr(length(&r.vf_det)),
            r.asystole_s.len()
        );
    }
    println!();
    let line = |label: &str, t: Tally| {
        println!(
            "{label:<40} Se {:6.2} %  +P {:6.2} %  ({} beats, {} FN, {} FP)",
            pct(t.tp, t.tp + t.fn_),
            pct(t.tp, t.tp + t.fp),
            t.tp + t.fn_,
            t.fn_,
            t.fp
        )
    };
    line("QRS, all 48 records (gross)", gross);
    line("QRS, without paced 102, 104, 107, 217", gross_np);
    line("QRS, all 48, VF/flutter left out (EC57)", gross_ec57);
    line("VEB, 44 records (paced excluded)", veb_all);
    line("VEB, DS2 (de Chazal 2004 test half)", veb_ds2);
    println!(
        "AF duration                              Se {:6.2} %  +P {:6.2} %  ({:.0} s reference, {:.0} s reported)",
        pct(af_ovl, af_ref),
        pct(af_ovl, af_det),
        sr(af_ref),
        sr(af_det)
    );
    let (afl_ref, afl_det, afl_ovl, afl_in_af) = results.iter().fold((0, 0, 0, 0), |t, r| {
        (
            t.0 + length(&r.afl_ref),
            t.1 + length(&r.afl_det),
            t.2 + overlap(&r.afl_ref, &r.afl_det),
            t.3 + overlap(&r.af_ref, &r.afl_det),
        )
    });
    let afl_records: Vec<String> = results
        .iter()
        .filter(|r| !r.afl_det.is_empty())
        .map(|r| format!("{} ({:.0} s)", r.name, sr(length(&r.afl_det))))
        .collect();
    println!(
        "atrial flutter                           Se {:6.2} %  +P {:6.2} %  ({:.0} s reference, {:.0} s reported, {:.0} s of it in reference AF; in {})",
        pct(afl_ovl, afl_ref),
        pct(afl_ovl, afl_det),
        sr(afl_ref),
        sr(afl_det),
        sr(afl_in_af),
        if afl_records.is_empty() {
            "no record".to_owned()
        } else {
            afl_records.join(", ")
        }
    );
    println!(
        "records without AF where AF is reported  {} of {}: {}",
        false_af_records.len(),
        no_af_records,
        false_af_records.join(", ")
    );
    println!(
        "VT episodes (runs of >= 5 V beats)       Se {:6.2} %  +P {:6.2} %  ({} runs, {} found; {} VT findings, {} true)",
        pct(vt_found, vt_ref),
        pct(vt_true, vt_det),
        vt_ref,
        vt_found,
        vt_det,
        vt_true
    );
    println!(
        "  of which with 5 V beats at > 100 /min   Se {:6.2} %  ({} runs, {} found)",
        pct(vt_fast_found, vt_fast_ref),
        vt_fast_ref,
        vt_fast_found
    );
    println!(
        "runs of >= 5 V beats, by VT, VF or vent rhythm  Se {:6.2} %  ({} runs, {} found)",
        pct(any_found, vt_ref),
        vt_ref,
        any_found
    );
    println!(
        "ventricular rhythm findings              +P {:6.2} %  ({} findings, {} true; false in {})",
        pct(vr_true, vr_det),
        vr_det,
        vr_true,
        if false_vr_records.is_empty() {
            "none".to_owned()
        } else {
            false_vr_records.join(", ")
        }
    );
    println!("both leads, each analysed as the runtime analyses every lead a bed streams:");
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.join(", ")
        }
    };
    println!(
        "  AF duration, reported by either lead     Se {:6.2} %  +P {:6.2} %  ({:.0} s reported; without AF: {} of {}: {})",
        pct(af_either_ovl, af_ref),
        pct(af_either_ovl, af_either_det),
        sr(af_either_det),
        false_af_either.len(),
        no_af_records,
        list(&false_af_either)
    );
    println!(
        "  AF duration, reported by both leads      Se {:6.2} %  +P {:6.2} %  ({:.0} s reported; without AF: {} of {}: {})",
        pct(af_both_ovl, af_ref),
        pct(af_both_ovl, af_both_det),
        sr(af_both_det),
        false_af_both.len(),
        no_af_records,
        list(&false_af_both)
    );
    println!(
        "  runs of >= 5 V beats, by VT, VF or vent rhythm on either lead  Se {:6.2} %  ({} runs, {} found); VT findings +P {:6.2} % ({} of {})",
        pct(v_either_found, vt_ref),
        vt_ref,
        v_either_found,
        pct(vt_either_true, vt_either_det),
        vt_either_true,
        vt_either_det
    );
    println!(
        "  the bed's decisions (BedsideStream over both leads, as the runtime raises alarms):"
    );
    println!(
        "    runs of >= 5 V beats, by its VT or VF or the first lead's vent rhythm  Se {:6.2} %  ({} runs, {} found)",
        pct(bed_found, vt_ref),
        vt_ref,
        bed_found
    );
    println!(
        "    confirmed VT episodes                  +P {:6.2} %  ({} episodes, {} true; false in {}); VT/VF findings suppressed: {}",
        pct(bed_vt_true, bed_vt),
        bed_vt,
        bed_vt_true,
        list(&bed_vt_false),
        bed_suppressed
    );
    let vf = results.iter().find(|r| r.name == "207");
    if let Some(r) = vf {
        println!(
            "207 ventricular flutter                  {:.0} s reference, {:.0} s reported as VF/flutter, {:.0} s overlap",
            sr(length(&r.vf_ref)),
            sr(length(&r.vf_det)),
            sr(overlap(&r.vf_ref, &r.vf_det))
        );
    }
    println!(
        "asystole findings                        {}: {}",
        asystoles.len(),
        asystoles.join(", ")
    );
    println!(
        "speed                                    {:.0} x real time on one thread ({:.1} s for {:.0} s of ECG)",
        duration / seconds,
        seconds,
        duration
    );
    println!(
        "{{\"veb_se\":{:.3},\"veb_pp\":{:.3},\"qrs_se\":{:.3},\"qrs_pp\":{:.3},\"qrs_pp_ec57\":{:.3},\"af_se\":{:.3},\"af_pp\":{:.3},\"afl_se\":{:.3},\"afl_pp\":{:.3},\"false_af_records\":{},\"vt_se\":{:.3},\"vt_pp\":{:.3},\"vt_fast_se\":{:.3},\"v_runs_se\":{:.3},\"vr_pp\":{:.3},\"af_se_either\":{:.3},\"af_pp_either\":{:.3},\"false_af_records_either\":{},\"v_runs_se_either\":{:.3},\"v_runs_se_bed\":{:.3},\"vt_pp_bed\":{:.3},\"x_realtime\":{:.0}}}",
        pct(veb_all.tp, veb_all.tp + veb_all.fn_),
        pct(veb_all.tp, veb_all.tp + veb_all.fp),
        pct(gross.tp, gross.tp + gross.fn_),
        pct(gross.tp, gross.tp + gross.fp),
        pct(gross_ec57.tp, gross_ec57.tp + gross_ec57.fp),
        pct(af_ovl, af_ref),
        pct(af_ovl, af_det),
        pct(afl_ovl, afl_ref),
        pct(afl_ovl, afl_det),
        false_af_records.len(),
        pct(vt_found, vt_ref),
        pct(vt_true, vt_det),
        pct(vt_fast_found, vt_fast_ref),
        pct(any_found, vt_ref),
        pct(vr_true, vr_det),
        pct(af_either_ovl, af_ref),
        pct(af_either_ovl, af_either_det),
        false_af_either.len(),
        pct(v_either_found, vt_ref),
        pct(bed_found, vt_ref),
        pct(bed_vt_true, bed_vt),
        duration / seconds
    );
    Ok(())
}
