//! Prints what the bedside analysis sees on a WFDB record between two
//! times, channel by channel: each lead's beats (with their class), each
//! pulsatile channel's pulses, the leads' own findings and the bedside
//! decisions. For reviewing one recording by eye beside its waveforms.
//!
//! Usage: `trace_record FILE.hea [FROM_S [TO_S]]`

use std::collections::BTreeMap;

use wardwatch_score::StreamEvent;
use wardwatch_score::bedside::{BedsideEvent, BedsideStream};
use wardwatch_wfdb::Record;

#[path = "common/record_channels.rs"]
mod record_channels;
use record_channels::record_channels;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: trace_record FILE.hea [FROM_S [TO_S]]");
    let from: f64 = args.next().map_or(0.0, |a| a.parse().expect("FROM_S"));
    let to: f64 = args
        .next()
        .map_or(f64::INFINITY, |a| a.parse().expect("TO_S"));
    let record = Record::open(&path).expect("record opens");
    let fs = record.fs_hz();
    let (channels, data) = record_channels(&record, to, true);
    let mut stream = BedsideStream::new(channels).expect("channels");
    let mut marks: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut lines = Vec::new();
    let t = |s: usize| s as f64 / fs;
    let block = fs as usize;
    let n = data[0].len();
    let mut start = 0;
    while start < n {
        let end = (start + block).min(n);
        for (c, x) in data.iter().enumerate() {
            let u = stream
                .push(c, &x[start..end])
                .expect("a channel of the bed");
            if let Some(ecg) = &u.ecg {
                for (r, class) in &ecg.classes {
                    if t(*r) >= from {
                        marks.entry(c).or_default().push(format!(
                            "{:.2}{}",
                            t(*r),
                            &format!("{class:?}")[..1]
                        ));
                    }
                }
                for e in &ecg.events {
                    let at = match e {
                        StreamEvent::Onset(f) => f.end_s,
                        StreamEvent::End { time_s, .. } => *time_s,
                    };
                    if at >= from {
                        lines.push(format!("{at:7.1} s {}: {e:?}", stream.channels()[c].name));
                    }
                }
            }
            for p in &u.pulses {
                if t(p.mark) >= from {
                    marks
                        .entry(c)
                        .or_default()
                        .push(format!("{:.2}", t(p.mark)));
                }
            }
            for e in u.events {
                match e {
                    BedsideEvent::Decision(d) if d.at_s >= from => {
                        lines.push(format!("{:7.1} s decision: {}", d.at_s, d.summary()));
                    }
                    BedsideEvent::End { kind, time_s } if time_s >= from => {
                        lines.push(format!("{time_s:7.1} s end: {kind:?}"));
                    }
                    _ => {}
                }
            }
        }
        start = end;
    }
    for (c, m) in marks {
        println!("{}: {}", stream.channels()[c].name, m.join(" "));
    }
    for l in lines {
        println!("{l}");
    }
}
