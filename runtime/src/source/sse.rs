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

/// SSE streams have one shard; this is its checkpoint key.
pub const SHARD: &str = "sse";
/// A batch is sent when it is full or this old, whichever comes first.
const FLUSH_AFTER: Duration = Duration::from_millis(100);
/// No bytes at all (not even the gateway's keep-alive comments) for this long
/// means the connection is dead even if TCP has not noticed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Incremental event-stream parser.
#[derive(Debug, Default)]
pub struct EventParser {
    line: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    id: Option<String>,
    last_was_cr: bool,
    /// The current event outgrew `MAX_EVENT_BYTES`: dropped up to its end.
    discarding: bool,
    /// The line being dropped has not ended yet.
    discarding_line: bool,
    /// Events dropped for their size.
    pub oversized: u64,
}

/// No vital-sign record comes near this; a gateway that never sends a line
/// end must not exhaust memory.
pub const MAX_EVENT_BYTES: usize = 4 << 20;

impl EventParser {
    /// Feeds bytes; returns the complete events as (id, data).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<(Option<String>, Vec<u8>)> {
        let mut out = Vec::new();
        for &b in bytes {
            if self.last_was_cr && b == b'\n' {
                self.last_was_cr = false;
                continue; // CRLF: the CR already ended the line
            }
            self.last_was_cr = b == b'\r';
            if b == b'\n' || b == b'\r' {
                let line = std::mem::take(&mut self.line);
                if let Some(event) = self.line_done(&line) {
                    out.push(event);
                }
            } else if !self.discarding {
                self.line.push(b);
                if self.line.len() + self.data.len() > MAX_EVENT_BYTES {
                    self.discarding = true;
                    self.discarding_line = true;
                    self.oversized += 1;
                    self.line = Vec::new();
                    self.data = Vec::new();
                    self.has_data = false;
                }
            }
        }
        out
    }

    fn line_done(&mut self, line: &[u8]) -> Option<(Option<String>, Vec<u8>)> {
        if self.discarding {
            // Drop everything up to the blank line that ends the event (the
            // first line end only ends the oversized line itself).
            if self.discarding_line {
                self.discarding_line = false;
            } else if line.is_empty() {
                self.discarding = false;
            }
            return None;
        }
        if line.is_empty() {
            if !self.has_data {
                return None;
            }
            self.has_data = false;
            return Some((self.id.clone(), std::mem::take(&mut self.data)));
        }
        if line[0] == b':' {
            return None;
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"id" if !value.contains(&0) => {
                self.id = Some(String::from_utf8_lossy(value).into_owned())
            }
            _ => {}
        }
        None
    }
}

/// Reads `url` until `stop`, resuming after `last_id`.
pub async fn run(
    name: &str,
    url: &str,
    mut last_id: Option<String>,
    tx: mpsc::Sender<SourceEvent>,
    mut stop: watch::Receiver<bool>,
) {
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
        let error = match result {
            Ok(()) => "the gateway closed the stream".to_owned(),
            Err(e) => e,
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
            for (id, data) in parser.feed(&chunk) {
                let Some(id) = id else {
                    continue; // without an id it cannot be checkpointed or deduplicated
                };
                if batch.is_empty() {
                    first_at = tokio::time::Instant::now();
                }
                *last_id = Some(id.clone());
                batch.push(RawRecord { sequence: id, data });
                backoff.reset();
                if batch.len() >= MAX_BATCH {
                    flush(name, &mut batch, tx).await?;
                }
            }
        }
        if !batch.is_empty() && first_at.elapsed() >= FLUSH_AFTER {
            flush(name, &mut batch, tx).await?;
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_split_across_chunks_with_comments_and_crlf() {
        let mut p = EventParser::default();
        let mut events = p.feed(b": keepalive\n\nid: 1\ndata: {\"a\"");
        assert!(events.is_empty());
        events.extend(p.feed(b":1}\r\n\r\nid:2\r\ndata: x\r\ndata: y\r\n\r\n"));
        assert_eq!(
            events,
            vec![
                (Some("1".into()), b"{\"a\":1}".to_vec()),
                (Some("2".into()), b"x\ny".to_vec())
            ]
        );
    }

    #[test]
    fn an_endless_event_is_dropped_not_buffered() {
        let mut p = EventParser::default();
        let huge = vec![b'x'; MAX_EVENT_BYTES + 10];
        assert!(p.feed(b"id: 1\ndata: ").is_empty());
        assert!(p.feed(&huge).is_empty());
        let events = p.feed(b"\ndata: more of it\n\nid: 2\ndata: ok\n\n");
        assert_eq!(events, vec![(Some("2".into()), b"ok".to_vec())]);
        assert_eq!(p.oversized, 1);
    }

    #[test]
    fn a_blank_event_does_not_dispatch_and_id_persists() {
        let mut p = EventParser::default();
        let events = p.feed(b"id: 7\n\ndata: z\n\n");
        assert_eq!(events, vec![(Some("7".into()), b"z".to_vec())]);
    }
}
