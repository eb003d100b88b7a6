//! Scores the alarm decisions on the PhysioNet/CinC Challenge 2015 records
//! (false arrhythmia alarms in the ICU) the way the Challenge did (Clifford
//! et al., CinC 2015 42:273–276): in real time, on the data up to the alarm
//! (300 s) only, TPR, TNR and (TP + TN) / (TP + TN + FP + 5 · FN), per alarm
//! type and overall. Three decisions side by side, in one run:
//! - **confirm all**: every alarm kept (the monitor as it is);
//! - **ECG, any lead**: the alarm is kept when one lead's own analysis
//!   (`EcgStream`) reports the alarm's condition in the 16 s before it;
//! - **ECG leads**: `BedsideStream` over the ECG leads only (each lead may
//!   contradict another's asystole or rate finding);
//! - **ECG + pulse**: `BedsideStream` over every lead, pleth and ABP — the
//!   decision the runtime and `wardwatchctl ecg analyze` take.
//!
//! Usage: `eval_challenge DATA_DIR [--verbose]` where DATA_DIR holds
//! `challenge2015/` with `ALARMS`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use wardwatch_score::StreamEvent;
use wardwatch_score::bedside::{BedsideEvent, BedsideStream, ChannelKind, Verdict};
use wardwatch_score::ecg::FindingKind;
use wardwatch_wfdb::Record;

#[path = "common/record_channels.rs"]
mod record_channels;
use record_channels::record_channels;

/// The alarm sounded here; the event lies in the 16 s before it.
const ALARM_S: f64 = 300.0;
const WINDOW_S: f64 = 16.0;

fn kinds_of(alarm: &str) -> &'static [FindingKind] {
    match alarm {
        "Asystole" => &[FindingKind::Asystole],
        "Bradycardia" => &[FindingKind::ExtremeBradycardia],
        // VT and VF are tachyarrhythmias: a monitor's extreme-tachycardia
        // alarm during one is a true alarm.
        "Tachycardia" => &[
            FindingKind::ExtremeTachycardia,
            FindingKind::VentricularTachycardia,
            FindingKind::VentricularFibrillation,
        ],
        // A ventricular alarm is kept by either ventricular finding: a fast
        // VT and flutter are told apart differently by different monitors.
        "Ventricular_Tachycardia" | "Ventricular_Flutter_Fib" => &[
            FindingKind::VentricularTachycardia,
            FindingKind::VentricularFibrillation,
        ],
        other => panic!("unknown alarm type {other}"),
    }
}

#[derive(Default, Clone, Copy)]
struct Tally {
    tp: u32,
    tn: u32,
    fp: u32,
    fn_: u32,
}

impl Tally {
    fn add(&mut self, truth: bool, kept: bool) {
        match (truth, kept) {
            (true, true) => self.tp += 1,
            (true, false) => self.fn_ += 1,
            (false, true) => self.fp += 1,
            (false, false) => self.tn += 1,
        }
    }
    fn cells(&self) -> String {
        let tpr = 100.0 * f64::from(self.tp) / f64::from((self.tp + self.fn_).max(1));
        let tnr = 100.0 * f64::from(self.tn) / f64::from((self.tn + self.fp).max(1));
        let score = 100.0 * f64::from(self.tp + self.tn)
            / f64::from((self.tp + self.tn + self.fp + 5 * self.fn_).max(1));
        format!(
            "{:>3}/{:<3}{:>3}/{:<3} TPR {tpr:5.1} TNR {tnr:5.1} score {score:5.1}",
            self.tp, self.fn_, self.tn, self.fp
        )
    }
}

/// Spans (start, end) during which a kind was alarming.
type Spans = BTreeMap<FindingKind, Vec<(f64, f64)>>;

fn active_in_window(spans: &Spans, kinds: &[FindingKind]) -> bool {
    kinds.iter().any(|k| {
        spans.get(k).is_some_and(|v| {
            v.iter()
                .any(|&(s, e)| s <= ALARM_S && e >= ALARM_S - WINDOW_S)
        })
    })
}

struct Outcome {
    any_lead: bool,
    leads: bool,
    multi: bool,
    notes: Vec<String>,
}

fn run(
    record: &Record,
    kinds: &[FindingKind],
    with_pulse: bool,
    notes: &mut Vec<String>,
) -> (bool, Option<bool>) {
    let fs = record.fs_hz();
    let (channels, data) = record_channels(record, ALARM_S, with_pulse);
    let mut stream = BedsideStream::new(channels).expect("channels");
    let block = fs as usize;
    let n = data[0].len();
    let mut lead_spans: Spans = BTreeMap::new();
    let mut open_lead: BTreeMap<(usize, FindingKind), f64> = BTreeMap::new();
    let mut decided: Spans = BTreeMap::new();
    let mut confirmed_at: BTreeMap<FindingKind, f64> = BTreeMap::new();
    let mut start = 0;
    while start < n {
        let end = (start + block).min(n);
        for (c, x) in data.iter().enumerate() {
            let u = stream
                .push(c, &x[start..end])
                .expect("a channel of the bed");
            if let Some(ecg) = &u.ecg {
                for e in &ecg.events {
                    match e {
                        StreamEvent::Onset(f) => {
                            open_lead.insert((c, f.kind), f.end_s);
                        }
                        StreamEvent::End { kind, time_s, .. } => {
                            if let Some(s) = open_lead.remove(&(c, *kind)) {
                                lead_spans.entry(*kind).or_default().push((s, *time_s));
                            }
                        }
                    }
                }
            }
            for e in u.events {
                match e {
                    BedsideEvent::Decision(d) => {
                        notes.push(format!("{:6.1} s {}", d.at_s, d.summary()));
                        if d.verdict == Verdict::Confirmed {
                            confirmed_at.entry(d.finding.kind).or_insert(d.at_s);
                        }
                    }
                    BedsideEvent::End { kind, time_s } => {
                        if let Some(s) = confirmed_at.remove(&kind) {
                            decided.entry(kind).or_default().push((s, time_s));
                        }
                    }
                }
            }
        }
        start = end;
    }
    for ((_, kind), s) in open_lead {
        lead_spans.entry(kind).or_default().push((s, f64::INFINITY));
    }
    for (kind, s) in confirmed_at {
        decided.entry(kind).or_default().push((s, f64::INFINITY));
    }
    (
        active_in_window(&lead_spans, kinds),
        Some(active_in_window(&decided, kinds)),
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .expect("usage: eval_challenge DATA_DIR [--verbose]"),
    );
    let verbose = args.next().is_some_and(|a| a == "--verbose");
    let dir = dir.join("challenge2015");
    let alarms = std::fs::read_to_string(dir.join("ALARMS")).expect("ALARMS reads");
    let mut by_type: BTreeMap<String, [Tally; 4]> = BTreeMap::new();
    let mut total = [Tally::default(); 4];
    let started = Instant::now();
    let mut seconds = 0.0;
    println!("record  alarm                    truth  any-lead  leads  ecg+pulse");
    for line in alarms.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let (name, alarm, truth) = (fields[0], fields[1], fields[2] == "1");
        let record = Record::open(dir.join(format!("{name}.hea"))).expect("record opens");
        let kinds = kinds_of(alarm);
        let mut notes_leads = Vec::new();
        let mut notes = Vec::new();
        let (any_lead, leads) = run(&record, kinds, false, &mut notes_leads);
        let (_, multi) = run(&record, kinds, true, &mut notes);
        seconds += 2.0 * ALARM_S;
        let o = Outcome {
            any_lead,
            leads: leads.unwrap_or(false),
            multi: multi.unwrap_or(false),
            notes,
        };
        let t = by_type.entry(alarm.to_owned()).or_default();
        for (i, kept) in [true, o.any_lead, o.leads, o.multi].into_iter().enumerate() {
            t[i].add(truth, kept);
            total[i].add(truth, kept);
        }
        let mark = |kept: bool| {
            if kept == truth {
                "ok"
            } else if truth {
                "FN!"
            } else {
                "FP"
            }
        };
        println!(
            "{name:7} {alarm:24} {:5}  {:8}  {:5}  {:9}",
            if truth { "true" } else { "false" },
            mark(o.any_lead),
            mark(o.leads),
            mark(o.multi)
        );
        if verbose {
            for (i, sig) in record.signals().iter().enumerate() {
                if ChannelKind::of_signal(&sig.description, &sig.units)
                    .is_some_and(ChannelKind::is_pulsatile)
                {
                    let fs = record.fs_hz();
                    let mut x = record.physical(i).expect("signal reads");
                    x.truncate((ALARM_S * fs) as usize);
                    let missing = x[((ALARM_S - WINDOW_S) * fs) as usize..]
                        .iter()
                        .filter(|v| !v.is_finite())
                        .count();
                    let p = wardwatch_score::pulse::detect_pulses(&x, fs);
                    let ev = wardwatch_score::pulse::PulseEvidence::over(
                        &p,
                        ((ALARM_S - WINDOW_S) * fs) as usize,
                        (ALARM_S * fs) as usize,
                        missing,
                        fs,
                    );
                    println!("        {} {ev:?} good={}", sig.description, ev.is_good());
                }
            }
            for n in &o.notes {
                println!("        {n}");
            }
        }
    }
    println!();
    println!(
        "TP/FN TN/FP per decision; score = (TP+TN)/(TP+TN+FP+5 FN), real-time (data to 300 s)"
    );
    let names = ["confirm all", "ECG, any lead", "ECG leads", "ECG + pulse"];
    for (alarm, t) in &by_type {
        println!("{alarm}");
        for (i, n) in names.iter().enumerate() {
            println!("  {n:14} {}", t[i].cells());
        }
    }
    println!(
        "All {} alarms",
        total[0].tp + total[0].tn + total[0].fp + total[0].fn_
    );
    for (i, n) in names.iter().enumerate() {
        println!("  {n:14} {}", total[i].cells());
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "analysed {seconds:.0} s of recordings in {elapsed:.2} s ({:.0}x real time, all channels)",
        seconds / elapsed
    );
}
