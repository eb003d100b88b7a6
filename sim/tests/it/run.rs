//! The run loop: pacing on tokio's clock, shutdown, exact reports, interleaving.

use std::time::Duration;

use wardwatch_sim::*;

use crate::{patients, start, testdata};

fn config(duration_s: u64) -> GeneratorConfig {
    let mut c = GeneratorConfig::new(patients(2), 8, start());
    c.duration_s = Some(duration_s);
    c
}

#[tokio::test(start_paused = true)]
async fn real_time_pace_takes_simulated_time_and_speedup_divides_it() {
    let t0 = tokio::time::Instant::now();
    let mut sink = NullSink::default();
    let report = run_sim(
        Generator::new(config(30)).expect("config"),
        &mut sink,
        Pace::RealTime,
        std::future::pending(),
    )
    .await
    .expect("runs");
    // The last batch (ECG block ending at 30 s) is sent 30 s after the first.
    assert_eq!(t0.elapsed().as_secs(), 30);
    assert_eq!(sink.records, report.emitted_total);

    let t0 = tokio::time::Instant::now();
    run_sim(
        Generator::new(config(30)).expect("config"),
        &mut NullSink::default(),
        Pace::Speedup(10.0),
        std::future::pending(),
    )
    .await
    .expect("runs");
    assert_eq!(t0.elapsed().as_secs(), 3);
}

// Real clock: with paused time, tokio would jump to the shutdown timer while
// the generator thread is still busy.
#[tokio::test]
async fn shutdown_stops_between_batches_and_the_report_matches_the_sink() {
    let mut c = config(3600);
    c.scenario = Scenario::default().with_malformed(0.05, &MalformedKind::ALL);
    let mut sink = VecSink::default();
    let shutdown = tokio::time::sleep(Duration::from_millis(300));
    let report = run_sim(
        Generator::new(c).expect("config"),
        &mut sink,
        Pace::Speedup(100.0),
        shutdown,
    )
    .await
    .expect("runs");
    let last = report.last_at.expect("some batches");
    let simulated = (last - start()).num_seconds();
    assert!(
        (5..=40).contains(&simulated),
        "stopped after {simulated} simulated s"
    );
    assert_eq!(report.emitted_total, sink.records.len() as u64);
    let mut check = SimReport::default();
    check.count(report.first_at.expect("first"), &sink.records);
    assert_eq!(check.malformed_by_kind, report.malformed_by_kind);
    assert_eq!(check.per_patient, report.per_patient);
    assert_eq!(check.ecg_samples, report.ecg_samples);
}

#[derive(Debug)]
struct FailingSink {
    left: usize,
}

impl RecordSink for FailingSink {
    fn name(&self) -> &'static str {
        "failing"
    }

    async fn send(&mut self, batch: &[SimRecord]) -> Result<()> {
        if self.left == 0 {
            return Err(Error::Generator {
                reason: "test sink refuses".into(),
            });
        }
        self.left -= 1;
        let _ = batch;
        Ok(())
    }
}

/// Keeps when (on tokio's clock) each send came and how many records it held.
struct TimedSink {
    t0: tokio::time::Instant,
    sends: Vec<(u128, usize)>,
}

impl RecordSink for TimedSink {
    fn name(&self) -> &'static str {
        "timed"
    }

    async fn send(&mut self, batch: &[SimRecord]) -> Result<()> {
        self.sends
            .push((self.t0.elapsed().as_millis(), batch.len()));
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn paced_a_wards_second_goes_out_spread_over_that_second_not_in_one_burst() {
    let mut c = GeneratorConfig::new(patients(300), 8, start());
    c.duration_s = Some(3);
    let mut sink = TimedSink {
        t0: tokio::time::Instant::now(),
        sends: Vec::new(),
    };
    let report = run_sim(
        Generator::new(c).expect("config"),
        &mut sink,
        Pace::RealTime,
        std::future::pending(),
    )
    .await
    .expect("runs");
    let total: usize = sink.sends.iter().map(|s| s.1).sum();
    assert_eq!(total as u64, report.emitted_total, "every record once");
    // The first second: ten parts, 100 ms apart, none over a tenth (rounded up).
    let first: Vec<u128> = sink.sends.iter().take(10).map(|s| s.0).collect();
    assert_eq!(first, (0..10).map(|i| i * 100).collect::<Vec<u128>>());
    let second = sink
        .sends
        .iter()
        .filter(|s| (1000..2000).contains(&s.0))
        .count();
    assert_eq!(second, 10, "{:?}", sink.sends);
    // As fast as possible: one send per batch, no waiting.
    let mut c = GeneratorConfig::new(patients(300), 8, start());
    c.duration_s = Some(3);
    let t0 = tokio::time::Instant::now();
    let mut sink = TimedSink {
        t0,
        sends: Vec::new(),
    };
    let report = run_sim(
        Generator::new(c).expect("config"),
        &mut sink,
        Pace::AsFastAsPossible,
        std::future::pending(),
    )
    .await
    .expect("runs");
    assert_eq!(sink.sends.len() as u64, report.batches);
    assert!(sink.sends.iter().all(|s| s.0 == 0));
}

#[tokio::test]
async fn a_sink_error_reports_what_was_accepted_before_it() {
    let mut sink = FailingSink { left: 3 };
    let err = run_sim(
        Generator::new(config(60)).expect("config"),
        &mut sink,
        Pace::AsFastAsPossible,
        std::future::pending(),
    )
    .await
    .expect_err("sink fails");
    let Error::Sink { report, sink, .. } = err else {
        panic!("not a sink error")
    };
    assert_eq!(sink, "failing");
    assert_eq!(report.batches, 3);
}

#[tokio::test]
async fn a_generated_ward_and_a_replayed_bed_interleave_in_time_order() {
    let mut opts = EcgReplayOptions::new("MITDB100", start());
    opts.lead = Some("MLII".into());
    let replay = EcgReplay::open(testdata().join("mitdb/100.hea"), opts).expect("opens");
    let source = Interleave::new()
        .with(Generator::new(config(20)).expect("config"))
        .with(replay);
    let mut sink = VecSink::default();
    let report = run_sim(
        source,
        &mut sink,
        Pace::AsFastAsPossible,
        std::future::pending(),
    )
    .await
    .expect("runs");
    assert_eq!(report.per_patient["MITDB100"].ecg_samples, 650_000);
    assert_eq!(report.per_patient["T00000"].ecg, 10);
    // Time order across sources: the replay's later blocks come after the ward's last.
    let pos_last_ward = sink
        .records
        .iter()
        .rposition(|r| r.partition_key == "T00001")
        .expect("ward");
    let replay_before = sink.records[..pos_last_ward]
        .iter()
        .filter(|r| r.partition_key == "MITDB100")
        .count();
    // Blocks ending at 2, 4, …, 18 s; at the 20 s tie the ward (listed first) goes first.
    assert_eq!(replay_before, 9);
}
