//! What the app sounds, recorded from the private sound server that
//! `scripts/audiod.sh` starts (a null sink's monitor, with `parec`) and
//! measured: pulses found from the signal's envelope, their durations and
//! fundamental frequency; silence checked with sox's `stat`.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const RATE: usize = 16_000;

/// One pulse of a burst: onset and duration in ms, fundamental in Hz.
#[derive(Debug, Clone, Copy)]
pub struct Pulse {
    pub at_ms: f64,
    pub ms: f64,
    pub hz: f64,
}

/// Records the app's output for `length`, as 16-bit mono at 16 kHz.
pub fn record(length: Duration) -> Vec<i16> {
    Recording::start(length).finish()
}

/// A recording under way: `start` returns once the sound server delivers
/// samples, so what a test does after it is on the recording (`parec` may
/// take a while to connect on a busy machine).
pub struct Recording {
    child: Child,
    reader: std::thread::JoinHandle<Vec<u8>>,
    /// Bytes the reader has so far.
    got: Arc<AtomicUsize>,
    started: Instant,
    length: Duration,
}

/// How long past its length a recording waits for the sound server to
/// deliver the rest of its samples (a busy machine's server lags).
const LATE_SAMPLES: Duration = Duration::from_secs(60);

impl Recording {
    pub fn start(length: Duration) -> Recording {
        let source = std::env::var("WARDWATCH_AUDIO_CAPTURE").expect(
            "WARDWATCH_AUDIO_CAPTURE is not set: run the desktop tests through scripts/test.sh, which starts scripts/audiod.sh",
        );
        let mut child = Command::new("parec")
            .args([
                "-d",
                &source,
                "--rate=16000",
                "--channels=1",
                "--format=s16le",
                "--raw",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "parec (Debian package pulseaudio-utils) must be installed: run scripts/setup.sh",
            );
        let mut out = child.stdout.take().expect("parec's output");
        let (first, delivered) = mpsc::channel();
        let got = Arc::new(AtomicUsize::new(0));
        let reader = std::thread::spawn({
            let got = Arc::clone(&got);
            move || {
                let mut bytes = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = out.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    if bytes.is_empty() {
                        let _ = first.send(());
                    }
                    bytes.extend_from_slice(&chunk[..n]);
                    got.store(bytes.len(), Ordering::SeqCst);
                }
                bytes
            }
        });
        // A monitor source streams silence too: samples come once parec is
        // connected, whatever the app plays.
        if delivered.recv_timeout(Duration::from_secs(60)).is_err() {
            let _ = child.kill();
            panic!("parec delivered no samples from {source} within 60 s");
        }
        Recording {
            child,
            reader,
            got,
            started: Instant::now(),
            length,
        }
    }

    /// Waits out the length (from the first samples) and until the sound
    /// server has delivered the samples of that length (up to
    /// `LATE_SAMPLES` more: a server that lags on a busy machine delivers
    /// them late, and a recording cut at the wall clock's length then
    /// lacked its end), and returns them all.
    pub fn finish(mut self) -> Vec<i16> {
        std::thread::sleep(self.length.saturating_sub(self.started.elapsed()));
        let want = 2 * (RATE as f64 * self.length.as_secs_f64()) as usize;
        let deadline = Instant::now() + LATE_SAMPLES;
        while self.got.load(Ordering::SeqCst) < want && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let bytes = self.reader.join().expect("the recording");
        bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    }
}

/// The pulses in `samples`: 5 ms RMS windows above a tenth of the loudest
/// (and above the noise floor), gaps under 20 ms bridged, pulses under
/// 40 ms ignored; each pulse's frequency from its zero crossings.
pub fn pulses(samples: &[i16]) -> Vec<Pulse> {
    const WIN: usize = RATE / 200;
    let rms: Vec<f64> = samples
        .chunks(WIN)
        .map(|w| (w.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / w.len() as f64).sqrt())
        .collect();
    let peak = rms.iter().copied().fold(0.0, f64::max);
    let threshold = (peak / 10.0).max(300.0);
    let mut segments: Vec<(usize, usize)> = Vec::new();
    for (i, &r) in rms.iter().enumerate() {
        if r < threshold {
            continue;
        }
        match segments.last_mut() {
            Some((_, end)) if i - *end <= 4 => *end = i,
            _ => segments.push((i, i)),
        }
    }
    segments
        .into_iter()
        .filter(|(a, b)| (b - a + 1) * 5 >= 40)
        .map(|(a, b)| {
            let part = &samples[a * WIN..((b + 1) * WIN).min(samples.len())];
            let crossings = crossings(part);
            let seconds = part.len() as f64 / RATE as f64;
            Pulse {
                at_ms: a as f64 * 5.0,
                ms: (b - a + 1) as f64 * 5.0,
                hz: crossings as f64 / 2.0 / seconds,
            }
        })
        .collect()
}

/// Zero crossings of a tone, counted with hysteresis: a crossing is the
/// signal going from below -h to above +h or back, h a fiftieth of the
/// part's peak (the alarm tones carry harmonics: a higher h counts their
/// swings too). Counting every sign change also counted the chatter of low
/// samples around zero (an audio server's underrun under load leaves a run
/// of them), which once read a 522 Hz pulse as 567 Hz.
fn crossings(part: &[i16]) -> usize {
    let peak = part.iter().map(|s| i32::from(*s).abs()).max().unwrap_or(0);
    let h = peak / 50;
    let mut high: Option<bool> = None;
    let mut count = 0;
    for &s in part {
        let s = i32::from(s);
        let now = if s > h {
            true
        } else if s < -h {
            false
        } else {
            continue;
        };
        if high.is_some_and(|was| was != now) {
            count += 1;
        }
        high = Some(now);
    }
    count
}

/// sox's RMS amplitude (0–1) of a recording.
pub fn sox_rms(samples: &[i16]) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let raw = dir.path().join("rec.raw");
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    std::fs::write(&raw, bytes).expect("write the recording");
    let out = Command::new("sox")
        .args([
            "-t", "raw", "-r", "16000", "-e", "signed", "-b", "16", "-c", "1",
        ])
        .arg(&raw)
        .args(["-n", "stat"])
        .output()
        .expect("sox (Debian package sox) must be installed: run scripts/setup.sh");
    let text = String::from_utf8_lossy(&out.stderr);
    text.lines()
        .find(|l| l.starts_with("RMS     amplitude:"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no RMS amplitude in sox's stat: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f64, ms: usize) -> Vec<i16> {
        (0..RATE * ms / 1000)
            .map(|i| {
                (8000.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / RATE as f64).sin()) as i16
            })
            .collect()
    }

    #[test]
    fn a_pulse_reads_its_pitch_through_low_chatter() {
        let mut samples = vec![0i16; RATE / 10];
        let mut pulse = tone(523.25, 200);
        // A run of low samples flipping sign mid-pulse, as an underrun leaves.
        for (i, s) in pulse.iter_mut().skip(1000).take(40).enumerate() {
            *s = if i % 2 == 0 { 30 } else { -30 };
        }
        samples.extend(pulse);
        samples.extend(vec![0i16; RATE / 10]);
        let found = pulses(&samples);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!((510.0..=536.0).contains(&found[0].hz), "{found:?}");
    }
}
