//! Delivery of queued patient messages to the configured Kinesis stream, by
//! the runtime itself: every [`POLL`] it asks the API what is due (queued
//! messages, and failed ones whose backoff has passed), puts each on the
//! stream as a FHIR `Communication`, and records the outcome through the API
//! (delivery state, attempts, audit under the runtime's service account).
//! The queue, consent and delivery state live in the store
//! (`wardwatch_core::messages`); this module only does the network half.

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use wardwatch_cloud::{KinesisClient, KinesisConfig};
use wardwatch_core::api::{self, Ctx};
use wardwatch_core::clock::Clock;
use wardwatch_core::messages::{MessageDestination, communication};
use wardwatch_core::store::AuditKeys;
use wardwatch_core::{Error, Result};

/// How often the runtime looks for messages to deliver.
pub const POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// What delivery did over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub sent: usize,
    pub failed: usize,
}

/// Delivers due messages every [`POLL`] until `shutdown` completes. Store
/// work runs on the blocking pool; a failed round is logged and retried on
/// the next tick, never ends the runtime.
pub async fn run(
    data_dir: &Path,
    keys: &AuditKeys,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()>,
) -> Result<Delivery> {
    let ctx = Arc::new(Mutex::new(Ctx::service(data_dir, keys, clock)?));
    let mut total = Delivery::default();
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tick.tick() => {}
        }
        match deliver_due(&ctx).await {
            Ok(d) => {
                total.sent += d.sent;
                total.failed += d.failed;
            }
            Err(e) => {
                tracing::warn!(kind = ?e.kind(), error = %e, "patient message delivery round failed; retrying")
            }
        }
    }
    Ok(total)
}

/// Runs `f` on the service context on the blocking pool.
async fn with_ctx<T: Send + 'static>(
    ctx: &Arc<Mutex<Ctx>>,
    f: impl FnOnce(&Ctx) -> Result<T> + Send + 'static,
) -> Result<T> {
    let ctx = Arc::clone(ctx);
    tokio::task::spawn_blocking(move || {
        let ctx = ctx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&ctx)
    })
    .await
    .map_err(|e| Error::InvalidInput {
        what: "message delivery task",
        reason: e.to_string(),
    })?
}

/// One round: every due message, once.
async fn deliver_due(ctx: &Arc<Mutex<Ctx>>) -> Result<Delivery> {
    let (dest, due) = with_ctx(ctx, api::messages_due).await?;
    let mut out = Delivery::default();
    if due.is_empty() {
        return Ok(out);
    }
    let Some(dest) = dest else {
        tracing::warn!(
            pending = due.len(),
            "patient messages are queued but no destination is configured: `wardwatchctl messages configure`"
        );
        return Ok(out);
    };
    let client = client(&dest)?;
    let now = with_ctx(ctx, |c| Ok(c.clock.now())).await?;
    for m in due {
        let outcome = client
            .put_record(&dest.stream, &m.mrn, &communication(&m, now))
            .await
            .map(|r| r.sequence_number)
            .map_err(|e| {
                tracing::warn!(message = m.id, kind = ?e.kind(), "patient message not delivered");
                e.to_string()
            });
        match &outcome {
            Ok(_) => out.sent += 1,
            Err(_) => out.failed += 1,
        }
        with_ctx(ctx, move |c| {
            api::record_message_delivery(c, &m, outcome.as_deref().map_err(String::as_str))
        })
        .await?;
    }
    Ok(out)
}

fn client(dest: &MessageDestination) -> Result<KinesisClient> {
    let credentials =
        crate::vault::credentials(&dest.credentials).map_err(|reason| Error::InvalidInput {
            what: "message credentials",
            reason,
        })?;
    KinesisClient::new(KinesisConfig {
        endpoint: dest.endpoint.clone(),
        region: dest.region.clone(),
        credentials,
        timeout: std::time::Duration::from_secs(15),
        ca_bundle: dest.ca_bundle.clone(),
    })
    .map_err(|e| Error::InvalidInput {
        what: "message destination",
        reason: e.to_string(),
    })
}
