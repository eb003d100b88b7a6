//! The live demo feed: the simulator's demo ward served on a loopback SSE
//! gateway and registered as the store's `demo` source, so the desktop app
//! (`wardwatch --demo`) shows a live ward with no set-up. Runs until its
//! shutdown future completes.

use std::future::Future;

use chrono::Utc;
use wardwatch_core::api::{self, Ctx};
use wardwatch_core::ingest::source::SourceConfig;

use crate::{
    GatewayOptions, Generator, GeneratorConfig, Pace, Result, Scenario, SharedLog, SimPatient,
    SseGateway, run_sim,
};

/// The demo source's name in the store.
pub const SOURCE: &str = "demo";

/// Binds a gateway on 127.0.0.1, registers it as the `demo` source (replacing
/// a previous demo source and its checkpoint, whose ids belonged to an
/// earlier gateway) and returns the future that feeds it in real time.
pub async fn start(
    ctx: &Ctx,
    patients: usize,
    seed: u64,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<impl Future<Output = ()> + Send + 'static> {
    let log = SharedLog::new(500_000);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let gateway = SseGateway::bind(
        "127.0.0.1:0",
        log.clone(),
        GatewayOptions::default(),
        async {
            let _ = stop_rx.await;
        },
    )
    .await?;
    let _ = api::remove_source(ctx, SOURCE);
    api::put_source(
        ctx,
        &SourceConfig::Sse {
            name: SOURCE.into(),
            url: gateway.stream_url(),
        },
    )
    .map_err(|e| crate::Error::Sink {
        sink: "demo source",
        report: Box::default(),
        source: Box::new(e),
    })?;
    let start = Utc::now();
    let mut config = GeneratorConfig::new(
        SimPatient::from_demo(patients, seed, start.date_naive()),
        seed,
        start,
    );
    config.scenario = Scenario::demo();
    // Each bed streams its finger pleth too: it shows under the ECG, and
    // it tells the demo's lead off from an asystole.
    config.pleth = true;
    let generator = Generator::new(config)?;
    Ok(async move {
        let mut sink = log;
        if let Err(e) = run_sim(generator, &mut sink, Pace::RealTime, shutdown).await {
            tracing::error!(error = %e, "the demo feed stopped");
        }
        let _ = stop_tx.send(());
        gateway.stopped().await;
    })
}
