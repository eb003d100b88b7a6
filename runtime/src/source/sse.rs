//! The Server-Sent Events source (the hospital's gateways, the demo's
//! simulator). Event stream parsing follows the WHATWG HTML standard
//! ("Server-sent events": `data:` lines joined by newlines, `id:` sets the last
//! event id, a blank line dispatches, `:` starts a comment). Each event's
//! data is one record and its id the sequence; a reconnect sends
//! `Last-Event-ID` so the gateway resumes after the last record read.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

use super::backoff::Backoff;
use crate::pipeline::{MAX_BATCH, RawRecord, SourceEvent};
use wardwatch_core::ingest::observation::{RejectCode, Rejection};
use wardwatch_core::ingest::source::resumable;

/// SSE streams have one shard; this is its checkpoint key.
pub const SHARD: &str = "sse";
/// A batch is sent when it is full or this old, whichever comes first.
const FLUSH_AFTER: Duration = Duration::from_millis(100);
/// No bytes at all (not even the gateway's keep-alive comments) for this long
/// means the connection is dead even if TCP has not noticed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A batch is sent once its records hold this many bytes, so that the
/// channel's `CHANNEL_BATCHES` bound also bounds memory.
pub const MAX_BATCH_BYTES: usize = 4 << 20;

pub use wardwatch_core::ingest::sse::{
    Event, EventParser, GAP_EVENT, Gap, MAX_EVENT_BYTES, OVERSIZED_HEAD,
};

/// Reads `url` until `stop`, resuming after `last_id`.
pub async fn run(
    name: &str,
    url: &str,
    mut last_id: Option<String>,
    tx: mpsc::Sender<SourceEvent>,
    mut stop: watch::Receiver<bool>,
) {
    if last_id.as_deref().is_some_and(|id| !resumable(id)) {
        // A checkpoint an older build stored: sent back it would fail every
        // connection. Read from the gateway's start; ids deduplicate.
        tracing::error!(source = %name, "the stored resume point cannot be sent as Last-Event-ID; reading from the stream's start");
        last_id = None;
    }
    let client = match reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(source = %name, error = %e, "cannot build an HTTP client");
            return;
        }
    };
    let seed = name
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10), seed);
    loop {
        if *stop.borrow() {
            return;
        }
        let result = tokio::select! {
            r = read_stream(name, url, &client, &mut last_id, &tx, &mut backoff) => r,
            _ = stop.changed() => return,
        };
        // An HTTP client's error quotes the URL: a credential in it (from a
        // store configured before they were refused) never reaches the
        // log, the status or the alarm text.
        let error = match result {
            Ok(()) => "the gateway closed the stream".to_owned(),
            Err(e) => wardwatch_core::text::redact_secrets(&e).into_owned(),
        };
        if tx.is_closed() {
            return; // the writer stopped: nothing to read for
        }
        tracing::warn!(source = %name, error = %error, "stream interrupted; reconnecting");
        let _ = tx
            .send(SourceEvent::Reconnect {
                source: name.to_owned(),
                error,
            })
            .await;
        let delay = backoff.next_delay();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => return,
        }
    }
}

/// One connection: read events, send batches. Returns when the stream ends.
async fn read_stream(
    name: &str,
    url: &str,
    client: &reqwest::Client,
    last_id: &mut Option<String>,
    tx: &mpsc::Sender<SourceEvent>,
    backoff: &mut Backoff,
) -> std::result::Result<(), String> {
    let mut req = client.get(url).header("Accept", "text/event-stream");
    if let Some(id) = last_id.as_deref() {
        req = req.header("Last-Event-ID", id);
    }
    let resp = req.send().await.map_err(|e| format!("connect: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status()));
    }
    // The server's clock, for the writer to compare with ours.
    if let Some(server) = resp
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|d| d.to_str().ok())
        .and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok())
    {
        let _ = tx
            .send(SourceEvent::ServerTime {
                source: name.to_owned(),
                server: server.with_timezone(&chrono::Utc),
                seen: std::time::Instant::now(),
            })
            .await;
    }
    let mut body = resp.bytes_stream();
    let mut parser = EventParser::default();
    let mut batch: Vec<RawRecord> = Vec::new();
    let mut batch_bytes = 0usize;
    let mut first_at = tokio::time::Instant::now();
    loop {
        let wait = if batch.is_empty() {
            IDLE_TIMEOUT
        } else {
            FLUSH_AFTER.saturating_sub(first_at.elapsed())
        };
        let chunk = match tokio::time::timeout(wait, body.next()).await {
            Ok(Some(Ok(chunk))) => Some(chunk),
            Ok(Some(Err(e))) => {
                flush(name, &mut batch, tx).await?;
                return Err(format!("read: {e}"));
            }
            Ok(None) => {
                flush(name, &mut batch, tx).await?;
                return Ok(());
            }
            Err(_) if batch.is_empty() => return Err("no data or keep-alive for 30 s".into()),
            Err(_) => None,
        };
        if let Some(chunk) = chunk {
            for event in parser.feed(&chunk) {
                if event.kind.as_deref() == Some(GAP_EVENT) {
                    // What came before it goes first: the writer resumes
                    // the stream after the gap.
                    flush(name, &mut batch, tx).await?;
                    batch_bytes = 0;
                    lost(name, event, last_id, tx).await?;
                    backoff.reset();
                    continue;
                }
                if batch.is_empty() {
                    first_at = tokio::time::Instant::now();
                }
                // Only an id that can be sent back becomes the resume point;
                // the store quarantines a record whose id cannot.
                let id = event.id.unwrap_or_default();
                if resumable(&id) {
                    *last_id = Some(id.clone());
                }
                batch_bytes += event.data.len();
                batch.push(RawRecord {
                    sequence: id,
                    received_len: event.oversized.unwrap_or(event.data.len()),
                    rejected: event.oversized.map(|len| Rejection {
                        code: RejectCode::Oversized,
                        reason: format!(
                            "an event of at least {len} bytes, over the {} MiB limit: its first {} KiB are kept",
                            MAX_EVENT_BYTES >> 20,
                            OVERSIZED_HEAD >> 10
                        ),
                    }),
                    data: event.data,
                });
                backoff.reset();
                if batch.len() >= MAX_BATCH || batch_bytes >= MAX_BATCH_BYTES {
                    flush(name, &mut batch, tx).await?;
                    batch_bytes = 0;
                }
            }
        }
        if !batch.is_empty() && first_at.elapsed() >= FLUSH_AFTER {
            flush(name, &mut batch, tx).await?;
            batch_bytes = 0;
        }
    }
}

/// Reports a gateway's `gap` event: the records it names are counted and
/// alarmed as lost, and the stream resumes after them.
async fn lost(
    name: &str,
    event: Event,
    last_id: &mut Option<String>,
    tx: &mpsc::Sender<SourceEvent>,
) -> std::result::Result<(), String> {
    let gap = Gap::parse(&event.data);
    let what = match gap {
        Some(g) if g.first == g.last => {
            format!("lost record {} before Wardwatch read it", g.first)
        }
        Some(g) => format!(
            "lost records {}–{} ({} records) before Wardwatch read them",
            g.first,
            g.last,
            g.records()
        ),
        // Unreadable, it still says records are gone: counted, not skipped.
        None => "lost records before Wardwatch read them (its notice did not say which)".into(),
    };
    let resume = event.id.filter(|id| resumable(id));
    if let Some(id) = &resume {
        *last_id = Some(id.clone());
    }
    tx.send(SourceEvent::Lost {
        source: name.to_owned(),
        shard: SHARD.to_owned(),
        records: gap.map(|g| g.records()),
        what,
        resume,
    })
    .await
    .map_err(|_| "the writer has stopped".to_owned())
}

async fn flush(
    name: &str,
    batch: &mut Vec<RawRecord>,
    tx: &mpsc::Sender<SourceEvent>,
) -> std::result::Result<(), String> {
    if batch.is_empty() {
        return Ok(());
    }
    tx.send(SourceEvent::Batch {
        source: name.to_owned(),
        shard: SHARD.to_owned(),
        records: std::mem::take(batch),
        read_at: std::time::Instant::now(),
    })
    .await
    .map_err(|_| "the writer has stopped".to_owned())
}
