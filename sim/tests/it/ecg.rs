//! The simulator's ectopic and paced hearts, read by the analysis the
//! runtime runs on every ECG (wardwatch-score's `EcgStream`): what a ward
//! of such patients shows a monitor.

use wardwatch_core::demo::SplitMix64;
use wardwatch_score::analysis::{EcgStream, StreamEvent};
use wardwatch_score::ecg::beats::BeatClass;
use wardwatch_sim::ecg::{EcgConditions, EcgSynth, EcgTraits, Rhythm, SYNTH_GAIN_ADU_PER_MV};

/// What ten minutes of one heart at `hr_bpm` give the live analysis.
struct Read {
    beats: usize,
    ventricular: usize,
    events: Vec<String>,
    /// The median of the meter's readings, one a second.
    hr_bpm: Option<f64>,
}

fn read(traits: EcgTraits, hr_bpm: f64, seed: u64) -> Read {
    let fs = 250;
    let mut rng = SplitMix64::new(seed);
    let mut synth = EcgSynth::new(fs, &mut rng).with_traits(traits);
    let mut stream = EcgStream::new(f64::from(fs)).expect("analyser");
    let mut out = Read {
        beats: 0,
        ventricular: 0,
        events: Vec::new(),
        hr_bpm: None,
    };
    let mut readings = Vec::new();
    for _ in 0..600 {
        let mut second = Vec::new();
        let c = EcgConditions {
            rhythm: Rhythm::Sinus { hr_bpm },
            resp_hz: 0.25,
            motion_mv: None,
            scripted: false,
            lead_off: false,
        };
        synth.second(&mut rng, c, &mut second);
        let mv: Vec<f64> = second
            .iter()
            .map(|&v| f64::from(v) / SYNTH_GAIN_ADU_PER_MV)
            .collect();
        let update = stream.push(&mv);
        out.beats += update.beats.len();
        out.ventricular += update
            .classes
            .iter()
            .filter(|(_, c)| *c == BeatClass::Ventricular)
            .count();
        for e in update.events {
            if let StreamEvent::Onset(f) = e {
                out.events.push(f.kind.label().to_owned());
            }
        }
        readings.extend(update.hr_bpm);
    }
    readings.sort_by(f64::total_cmp);
    out.hr_bpm = readings.get(readings.len() / 2).copied();
    out
}

#[test]
fn a_heart_with_pvcs_shows_ventricular_beats_and_no_arrhythmia_alarm() {
    let traits = EcgTraits {
        pvc_per_min: 4.0,
        couplet_fraction: 0.1,
        pvc_polarity: 1.0,
        paced_lower_rate_bpm: None,
    };
    for (seed, polarity) in [(3, 1.0), (4, -1.0)] {
        let r = read(
            EcgTraits {
                pvc_polarity: polarity,
                ..traits
            },
            75.0,
            seed,
        );
        // About 40 PVCs in 10 minutes (4 a minute, a tenth with a second).
        assert!(
            (30..=60).contains(&r.ventricular),
            "polarity {polarity}: {} ventricular beats of {}",
            r.ventricular,
            r.beats
        );
        assert!(r.events.is_empty(), "polarity {polarity}: {:?}", r.events);
        // The compensatory pauses keep the mean rate at the sinus rate.
        let hr = r.hr_bpm.expect("a heart rate");
        assert!((65.0..=85.0).contains(&hr), "HR {hr}");
    }
    let clean = read(EcgTraits::default(), 75.0, 3);
    assert!(
        clean.ventricular <= 2,
        "{} ventricular beats",
        clean.ventricular
    );
}

#[test]
fn a_paced_heart_reads_as_a_regular_rhythm_not_af_asystole_or_vt() {
    let paced = EcgTraits {
        paced_lower_rate_bpm: Some(60.0),
        ..EcgTraits::default()
    };
    for hr_bpm in [74.0, 45.0, 110.0] {
        let r = read(paced, hr_bpm, 5);
        assert!(r.events.is_empty(), "paced at {hr_bpm}: {:?}", r.events);
        let expected = hr_bpm.max(60.0);
        let hr = r.hr_bpm.expect("a heart rate");
        assert!(
            (hr - expected).abs() <= 8.0,
            "paced, sinus at {hr_bpm}: HR {hr}, not {expected} ({} beats)",
            r.beats
        );
        assert!(
            r.ventricular * 20 <= r.beats,
            "paced at {hr_bpm}: {} of {} beats called ventricular",
            r.ventricular,
            r.beats
        );
        assert!(r.beats as f64 >= 9.0 * expected, "{} beats", r.beats);
    }
}
