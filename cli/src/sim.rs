//! `wardwatchctl sim`: runs the cloud simulator (wardwatch-sim) into an SSE
//! gateway it serves, or onto a Kinesis stream. Argument handling only; the
//! simulator is the library's.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use wardwatch_cloud::{KinesisClient, KinesisConfig};
use wardwatch_sim::{
    EcgReplay, EcgReplayOptions, GatewayOptions, Generator, GeneratorConfig, Interleave,
    KinesisSink, Pace, RecordSource, Scenario, SharedLog, SimPatient, SimReport, SseGateway,
    run_sim,
};

#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Simulated patients (the demo ward's first N, or a generated registry
    /// beyond 24, the same MRNs `demo load` / `demo export` give)
    #[arg(long, default_value_t = 24)]
    patients: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Scenario file (JSON: episodes, malformed records); `demo` and
    /// `alarm-tests` name the built-in ones
    #[arg(long)]
    scenario: Option<String>,
    /// Serve the streams as Server-Sent Events on ADDR (e.g. 127.0.0.1:8700)
    #[arg(long, value_name = "ADDR", conflicts_with = "kinesis_endpoint")]
    serve_sse: Option<String>,
    /// Put the streams on a Kinesis stream at URL
    #[arg(long, value_name = "URL", requires = "stream")]
    kinesis_endpoint: Option<String>,
    #[arg(long)]
    stream: Option<String>,
    #[arg(long, default_value = "eu-west-2")]
    region: String,
    /// Where the keys are: env:PREFIX reads PREFIX_ACCESS_KEY_ID and PREFIX_SECRET_ACCESS_KEY
    #[arg(long, default_value = "env:WARDWATCH_AWS")]
    credentials: String,
    /// Create the Kinesis stream with this many shards first
    #[arg(long)]
    create_shards: Option<u32>,
    /// Seconds between numerics (1–60)
    #[arg(long, default_value_t = 1)]
    numerics_period: u32,
    /// ECG sampling rate in Hz (125–500); 0 for no ECG
    #[arg(long, default_value_t = 250)]
    ecg_fs: u32,
    /// Also stream each patient's finger pleth (MDC_PULS_OXIM_PLETH) at the
    /// ECG's rate: the pulse that confirms or suppresses an ECG alarm
    #[arg(long)]
    pleth: bool,
    /// Stop after this many simulated seconds [default: until Ctrl-C]
    #[arg(long)]
    duration: Option<u64>,
    /// realtime, fast (no waiting) or a speed-up such as 10x
    #[arg(long, default_value = "realtime")]
    pace: String,
    /// Also replay this WFDB record (.hea) as ECG of --replay-mrn
    #[arg(long, requires = "replay_mrn")]
    replay: Option<PathBuf>,
    #[arg(long)]
    replay_mrn: Option<String>,
    /// Signals of the replayed record, comma-separated (e.g. MLII, or
    /// II,V,PLETH,ABP: leads, pleth and arterial pressure, each its own
    /// stream) [default: the first ECG lead]
    #[arg(long)]
    replay_lead: Option<String>,
    /// With --serve-sse: keep serving this many seconds after the simulation ends
    #[arg(long, default_value_t = 0)]
    linger: u64,
    /// With --serve-sse: the records the stream keeps for a reader that
    /// falls behind (the oldest go first: a reader further behind loses
    /// records, and is told so)
    #[arg(long, default_value_t = 4_000_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    log_records: u64,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

fn pace(s: &str) -> anyhow::Result<Pace> {
    Ok(match s {
        "realtime" => Pace::RealTime,
        "fast" => Pace::AsFastAsPossible,
        x => {
            let n: f64 = x
                .strip_suffix('x')
                .and_then(|n| n.parse().ok())
                .filter(|n: &f64| n.is_finite() && *n > 0.0)
                .with_context(|| {
                    format!("--pace `{x}`: use realtime, fast or a speed-up such as 10x")
                })?;
            Pace::Speedup(n)
        }
    })
}

fn source(a: &SimArgs) -> anyhow::Result<Box<dyn RecordSource>> {
    let start = Utc::now();
    let mut sources = Interleave::new();
    if a.patients > 0 {
        let patients = SimPatient::from_demo(a.patients, a.seed, start.date_naive());
        let mut config = GeneratorConfig::new(patients, a.seed, start);
        config.numerics_period_s = a.numerics_period;
        config.ecg_fs_hz = (a.ecg_fs > 0).then_some(a.ecg_fs);
        config.duration_s = a.duration;
        config.pleth = a.pleth && config.ecg_fs_hz.is_some();
        config.scenario = match a.scenario.as_deref() {
            None => Scenario::default(),
            Some("demo") => Scenario::demo(),
            Some("alarm-tests") => Scenario::alarm_tests(),
            Some(path) => Scenario::from_file(path)?,
        };
        sources = sources.with(Generator::new(config)?);
    }
    if let (Some(hea), Some(mrn)) = (&a.replay, &a.replay_mrn) {
        let signals: Vec<Option<String>> = match &a.replay_lead {
            None => vec![None],
            Some(list) => list.split(',').map(|s| Some(s.trim().to_owned())).collect(),
        };
        for signal in signals {
            let mut opts = EcgReplayOptions::new(mrn.clone(), start);
            opts.lead = signal;
            sources = sources.with(EcgReplay::open(hea, opts)?);
        }
    }
    Ok(Box::new(sources))
}

/// Runs the simulator; returns what it emitted.
pub fn run(a: &SimArgs) -> anyhow::Result<SimReport> {
    let pace = pace(&a.pace)?;
    let src = source(a)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        if let Some(addr) = &a.serve_sse {
            let log = SharedLog::new(usize::try_from(a.log_records)?);
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let gateway = SseGateway::bind(addr.as_str(), log.clone(), GatewayOptions::default(), async {
                let _ = stop_rx.await;
            })
            .await?;
            eprintln!("sim: serving {}", gateway.stream_url());
            let mut sink = log.clone();
            let report = run_sim(src, &mut sink, pace, ctrl_c).await?;
            if a.linger > 0 {
                // For a harness waiting on the records (bench/scale.sh).
                eprintln!(
                    "sim: emitted {} records ({} valid); serving them {} s more",
                    report.emitted_total,
                    report.valid_total(),
                    a.linger
                );
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(a.linger)) => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            let _ = stop_tx.send(());
            gateway.stopped().await;
            Ok(report)
        } else if let (Some(endpoint), Some(stream)) = (&a.kinesis_endpoint, &a.stream) {
            let client = KinesisClient::new(KinesisConfig {
                endpoint: endpoint.clone(),
                region: a.region.clone(),
                credentials: wardwatch_runtime::vault::credentials(&a.credentials)
                    .map_err(anyhow::Error::msg)?,
                timeout: Duration::from_secs(30),
                ca_bundle: None,
            })?;
            if let Some(shards) = a.create_shards {
                client.create_stream(stream, shards).await?;
                client.wait_for_active(stream, Duration::from_secs(30)).await?;
            }
            let mut sink = KinesisSink::new(client, stream.clone());
            Ok(run_sim(src, &mut sink, pace, ctrl_c).await?)
        } else {
            anyhow::bail!("say where the streams go: --serve-sse ADDR, or --kinesis-endpoint URL --stream NAME")
        }
    })
}
