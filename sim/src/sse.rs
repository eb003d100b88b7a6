//! A Server-Sent Events gateway: the "cloud" end of a vitals stream that the
//! app's ingest can subscribe to, written directly on a tokio `TcpListener`
//! (request line and headers by hand; the only routes are two GETs).
//!
//! - `GET /streams/vitals`: `text/event-stream`, one event per record,
//!   `id: <sequence>\ndata: <Observation JSON>\n\n`. Sequences start at 1 and
//!   increase by one per record, across gateway restarts. A `Last-Event-ID`
//!   header (or `?last_event_id=`) resumes after that id; without one the
//!   stream starts at the oldest buffered event ([`StartFrom::Oldest`], so a
//!   receiver that connects late still sees everything) or at the live end.
//!   Idle streams get `: keepalive` comments.
//! - `GET /health`: `{"status":"ok","last_event_id":N,"buffered":M}`.
//!
//! Events live in a [`SharedLog`], a bounded replay buffer that outlives any
//! one gateway: the simulator publishes into the log, and a gateway is only a
//! view of it. A test stops a gateway mid-stream, keeps publishing, binds a new
//! gateway on the same log (and port), and a reconnecting client with
//! `Last-Event-ID` loses nothing. Publishing never waits for clients; a client
//! that falls further behind than the buffer is told so by a `gap` event
//! (`event: gap`, `id:` the last sequence lost, data `{"first":F,"last":L}`).

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::error::{Error, Result};
use crate::record::SimRecord;
use crate::sink::RecordSink;

/// Events kept for replay by default: at 1,000 patients (~5,500 records/s)
/// about 45 s, and the whole of any test run.
pub const DEFAULT_LOG_CAPACITY: usize = 262_144;

#[derive(Debug)]
struct LogState {
    events: VecDeque<(u64, Bytes)>,
    capacity: usize,
    last_id: u64,
}

#[derive(Debug)]
struct LogInner {
    state: Mutex<LogState>,
    latest: watch::Sender<u64>,
}

/// The gateway's replay buffer, shared by every gateway bound to it. Cheap to
/// clone (an `Arc`).
#[derive(Debug, Clone)]
pub struct SharedLog {
    inner: Arc<LogInner>,
}

/// What [`SharedLog::read_after`] returns.
#[derive(Debug)]
struct Slice {
    events: Vec<(u64, Bytes)>,
    /// Ids the reader asked for that were already evicted.
    evicted: Option<(u64, u64)>,
}

impl SharedLog {
    /// A log keeping at most `capacity` events (oldest evicted first).
    pub fn new(capacity: usize) -> SharedLog {
        let (latest, _) = watch::channel(0);
        SharedLog {
            inner: Arc::new(LogInner {
                state: Mutex::new(LogState {
                    events: VecDeque::new(),
                    capacity: capacity.max(1),
                    last_id: 0,
                }),
                latest,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, LogState> {
        // A panic while holding the lock cannot leave the deque half-updated
        // in a way that matters to readers; keep serving.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends records as events; returns the ids given to them (first, last).
    pub fn publish(&self, records: &[SimRecord]) -> Option<(u64, u64)> {
        if records.is_empty() {
            return None;
        }
        let (first, last) = {
            let mut st = self.state();
            let first = st.last_id + 1;
            for r in records {
                st.last_id += 1;
                let id = st.last_id;
                st.events.push_back((id, Bytes::from(r.payload.clone())));
            }
            let excess = st.events.len().saturating_sub(st.capacity);
            st.events.drain(..excess);
            (first, st.last_id)
        };
        self.inner.latest.send_replace(last);
        Some((first, last))
    }

    /// The id of the newest event (0 before the first).
    pub fn last_id(&self) -> u64 {
        self.state().last_id
    }

    /// Events currently buffered.
    pub fn len(&self) -> usize {
        self.state().events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read_after(&self, after: u64, max: usize) -> Slice {
        let st = self.state();
        let Some(&(oldest, _)) = st.events.front() else {
            return Slice {
                events: Vec::new(),
                evicted: (after < st.last_id).then_some((after + 1, st.last_id)),
            };
        };
        let evicted = (after + 1 < oldest).then_some((after + 1, oldest - 1));
        // Ids are consecutive, so the position of `after + 1` is arithmetic.
        let skip = (after + 1).saturating_sub(oldest) as usize;
        let events = st.events.iter().skip(skip).take(max).cloned().collect();
        Slice { events, evicted }
    }
}

impl Default for SharedLog {
    fn default() -> Self {
        SharedLog::new(DEFAULT_LOG_CAPACITY)
    }
}

impl RecordSink for SharedLog {
    fn name(&self) -> &'static str {
        "sse"
    }

    async fn send(&mut self, batch: &[SimRecord]) -> Result<()> {
        self.publish(batch);
        Ok(())
    }
}

/// Where a client without `Last-Event-ID` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartFrom {
    /// The oldest buffered event (tests, late-starting receivers).
    #[default]
    Oldest,
    /// Only events published after the client connected.
    Live,
}

/// Gateway behaviour.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// A `: keepalive` comment after this long without events (default 15 s).
    pub keepalive: Duration,
    /// The `retry:` reconnection delay advertised to clients (default 1 s).
    pub retry_ms: u64,
    pub start_from: StartFrom,
    /// Events per socket write (default 512).
    pub events_per_write: usize,
    /// How far this gateway's clock is off, as its HTTP `Date` header shows
    /// (default none; tests set it to play a server with a wrong clock).
    pub clock_offset: chrono::Duration,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            keepalive: Duration::from_secs(15),
            retry_ms: 1000,
            start_from: StartFrom::Oldest,
            events_per_write: 512,
            clock_offset: chrono::Duration::zero(),
        }
    }
}

/// A running gateway. It stops when the shutdown future given to
/// [`SseGateway::bind`] completes; [`SseGateway::stopped`] waits for that.
#[derive(Debug)]
pub struct SseGateway {
    local_addr: SocketAddr,
    log: SharedLog,
    task: tokio::task::JoinHandle<()>,
}

impl SseGateway {
    /// Binds `addr` (e.g. `127.0.0.1:0`) and serves `log` until `shutdown`.
    pub async fn bind(
        addr: impl ToSocketAddrs + std::fmt::Display,
        log: SharedLog,
        options: GatewayOptions,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<SseGateway> {
        let name = addr.to_string();
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr: name, source })?;
        SseGateway::serve(listener, log, options, shutdown)
    }

    /// Serves an already bound listener (mini-redis style `run(listener, shutdown)`).
    pub fn serve(
        listener: TcpListener,
        log: SharedLog,
        options: GatewayOptions,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<SseGateway> {
        let local_addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: "listener".into(),
            source,
        })?;
        let task = tokio::spawn(run(listener, log.clone(), options, shutdown));
        Ok(SseGateway {
            local_addr,
            log,
            task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://{addr}/streams/vitals`.
    pub fn stream_url(&self) -> String {
        format!("http://{}/streams/vitals", self.local_addr)
    }

    pub fn log(&self) -> &SharedLog {
        &self.log
    }

    /// Publishes records to the gateway's log.
    pub fn publish(&self, records: &[SimRecord]) -> Option<(u64, u64)> {
        self.log.publish(records)
    }

    /// Waits until the gateway has stopped and every connection is closed.
    pub async fn stopped(self) {
        if let Err(e) = self.task.await {
            tracing::error!(addr = %self.local_addr, error = %e, "SSE gateway task failed");
        }
    }
}

async fn run(
    listener: TcpListener,
    log: SharedLog,
    options: GatewayOptions,
    shutdown: impl Future<Output = ()>,
) {
    let addr = listener.local_addr().ok();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((sock, peer)) => {
                    let (log, options, stop) = (log.clone(), options.clone(), stop_rx.clone());
                    conns.spawn(async move {
                        if let Err(e) = connection(sock, log, options, stop).await {
                            tracing::debug!(%peer, error = %e, "SSE connection ended");
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(?addr, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    stop_tx.send_replace(true);
    while conns.join_next().await.is_some() {}
    tracing::info!(?addr, "SSE gateway stopped");
}

#[derive(Debug)]
struct Request {
    method: String,
    path: String,
    query: String,
    last_event_id: Option<String>,
}

async fn read_request(sock: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let end = loop {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 16 * 1024 {
            return Ok(None);
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let mut parts = lines.next().unwrap_or_default().split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let last_event_id = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("last-event-id"))
        .map(|(_, v)| v.trim().to_owned());
    Ok(Some(Request {
        method,
        path: path.to_owned(),
        query: query.to_owned(),
        last_event_id,
    }))
}

async fn respond(sock: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let msg = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(msg.as_bytes()).await?;
    sock.shutdown().await
}

async fn connection(
    mut sock: TcpStream,
    log: SharedLog,
    options: GatewayOptions,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let request = tokio::select! {
        r = read_request(&mut sock) => r?,
        _ = stop.wait_for(|s| *s) => return Ok(()),
        _ = tokio::time::sleep(Duration::from_secs(10)) => return Ok(()),
    };
    let Some(req) = request else {
        return Ok(());
    };
    if req.method != "GET" {
        return respond(
            &mut sock,
            "405 Method Not Allowed",
            r#"{"error":"only GET"}"#,
        )
        .await;
    }
    match req.path.as_str() {
        "/health" => {
            let body = format!(
                r#"{{"status":"ok","last_event_id":{},"buffered":{}}}"#,
                log.last_id(),
                log.len()
            );
            respond(&mut sock, "200 OK", &body).await
        }
        "/streams/vitals" => {
            let from_query = req
                .query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == "last_event_id")
                .map(|(_, v)| v.to_owned());
            let resume = match req.last_event_id.or(from_query) {
                Some(v) if v.is_empty() => None,
                Some(v) => match v.parse::<u64>() {
                    Ok(id) => Some(id),
                    Err(_) => {
                        let body = r#"{"error":"Last-Event-ID must be a decimal event id"}"#;
                        return respond(&mut sock, "400 Bad Request", body).await;
                    }
                },
                None => None,
            };
            let cursor = resume.unwrap_or(match options.start_from {
                StartFrom::Oldest => 0,
                StartFrom::Live => log.last_id(),
            });
            stream(&mut sock, &log, &options, &mut stop, cursor).await
        }
        _ => respond(&mut sock, "404 Not Found", r#"{"error":"not found"}"#).await,
    }
}

/// Writes one HTTP/1.1 chunk, giving up when the gateway stops.
async fn write_chunk(
    sock: &mut TcpStream,
    body: &[u8],
    stop: &mut watch::Receiver<bool>,
) -> std::io::Result<bool> {
    let mut msg = Vec::with_capacity(body.len() + 16);
    msg.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
    msg.extend_from_slice(body);
    msg.extend_from_slice(b"\r\n");
    tokio::select! {
        r = sock.write_all(&msg) => r.map(|()| true),
        _ = stop.wait_for(|s| *s) => Ok(false),
    }
}

/// Formats one SSE event; payload lines become separate `data:` lines.
fn push_event(out: &mut Vec<u8>, id: u64, payload: &[u8]) {
    use std::io::Write as _;
    // Writing to a Vec cannot fail.
    let _ = writeln!(out, "id: {id}");
    // A record is one line of JSON: one search for a line end (memchr), not
    // a split that looks at every byte.
    if !payload.contains(&b'\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(payload.strip_suffix(b"\r").unwrap_or(payload));
        out.extend_from_slice(b"\n\n");
        return;
    }
    for line in payload.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.push(b'\n');
}

async fn stream(
    sock: &mut TcpStream,
    log: &SharedLog,
    options: &GatewayOptions,
    stop: &mut watch::Receiver<bool>,
    mut cursor: u64,
) -> std::io::Result<()> {
    // `Date` (RFC 9110 IMF-fixdate): receivers check their clock against it.
    let date = (chrono::Utc::now() + options.clock_offset).format("%a, %d %b %Y %H:%M:%S GMT");
    let head = format!(
        "HTTP/1.1 200 OK\r\nDate: {date}\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    sock.write_all(head.as_bytes()).await?;
    let hello = format!("retry: {}\n\n", options.retry_ms);
    if !write_chunk(sock, hello.as_bytes(), stop).await? {
        return Ok(());
    }
    let mut latest = log.inner.latest.subscribe();
    loop {
        // Mark the current version seen *before* reading, so a publish that
        // lands after the read wakes us below.
        latest.borrow_and_update();
        let slice = log.read_after(cursor, options.events_per_write.max(1));
        let mut out = Vec::new();
        if let Some((from, to)) = slice.evicted {
            tracing::warn!(from, to, "SSE client asked for events no longer buffered");
            // The wire format's `gap` event (`docs/wire-format.md`): the
            // client counts what it lost, and resumes after it.
            out.extend_from_slice(
                format!("event: gap\nid: {to}\ndata: {{\"first\":{from},\"last\":{to}}}\n\n")
                    .as_bytes(),
            );
            cursor = cursor.max(to);
        }
        for (id, payload) in &slice.events {
            push_event(&mut out, *id, payload);
            cursor = *id;
        }
        if !out.is_empty() {
            if !write_chunk(sock, &out, stop).await? {
                break;
            }
            continue;
        }
        enum Wake {
            Stop,
            Published,
            Idle,
        }
        let wake = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => Wake::Stop,
            changed = latest.changed() => if changed.is_err() { Wake::Stop } else { Wake::Published },
            _ = tokio::time::sleep(options.keepalive) => Wake::Idle,
        };
        match wake {
            Wake::Stop => break,
            Wake::Published => {}
            Wake::Idle => {
                if !write_chunk(sock, b": keepalive\n\n", stop).await? {
                    break;
                }
            }
        }
    }
    // End the chunked body so the client sees a clean end of stream. The
    // client may already be gone; nothing to do about it then.
    let _ = sock.write_all(b"0\r\n\r\n").await;
    let _ = sock.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordKind;

    fn rec(i: u32) -> SimRecord {
        SimRecord {
            partition_key: "M".into(),
            id: format!("r{i}"),
            payload: format!("{{\"n\":{i}}}").into_bytes(),
            kind: RecordKind::Numeric,
            data_absent: false,
            ecg_samples: 0,
        }
    }

    #[test]
    fn log_evicts_oldest_and_reports_what_a_reader_missed() {
        let log = SharedLog::new(3);
        let recs: Vec<SimRecord> = (1..=5).map(rec).collect();
        assert_eq!(log.publish(&recs), Some((1, 5)));
        let s = log.read_after(0, 10);
        assert_eq!(s.evicted, Some((1, 2)));
        assert_eq!(
            s.events.iter().map(|e| e.0).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        let s = log.read_after(3, 10);
        assert_eq!(s.evicted, None);
        assert_eq!(s.events.iter().map(|e| e.0).collect::<Vec<_>>(), vec![4, 5]);
        assert!(log.read_after(5, 10).events.is_empty());
    }

    #[test]
    fn multi_line_payloads_become_several_data_lines() {
        let mut out = Vec::new();
        push_event(&mut out, 7, b"a\r\nb");
        assert_eq!(out, b"id: 7\ndata: a\ndata: b\n\n");
    }
}
