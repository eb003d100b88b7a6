//! The SSE gateway over real loopback sockets, read with reqwest.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::oneshot;
use wardwatch_sim::*;

#[derive(Debug, Clone, PartialEq)]
struct Event {
    id: u64,
    /// `event:` (none for a record).
    kind: Option<String>,
    data: String,
}

fn records(n: usize, from: usize) -> Vec<SimRecord> {
    (from..from + n)
        .map(|i| SimRecord {
            partition_key: "M1".into(),
            id: format!("obs-{i}"),
            payload: format!(r#"{{"resourceType":"Observation","id":"obs-{i}"}}"#).into_bytes(),
            kind: RecordKind::Numeric,
            data_absent: false,
            ecg_samples: 0,
        })
        .collect()
}

/// Reads events until `n` arrived; also returns the comments seen.
async fn read_events(url: &str, last_event_id: Option<u64>, n: usize) -> (Vec<Event>, Vec<String>) {
    let client = reqwest::Client::new();
    let mut req = client.get(url);
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id.to_string());
    }
    let resp = req.send().await.expect("connects");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut stream = resp.bytes_stream();
    let mut buf = String::new();
    let (mut events, mut comments) = (Vec::new(), Vec::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while events.len() < n {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("events arrive in time")
            .expect("stream open")
            .expect("chunk");
        buf.push_str(std::str::from_utf8(&chunk).expect("utf-8"));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let (mut id, mut kind, mut data) = (None, None, Vec::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    kind = Some(v.to_owned());
                } else if let Some(c) = line.strip_prefix(':') {
                    comments.push(c.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("id: ") {
                    id = Some(v.parse::<u64>().expect("numeric id"));
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push(v.to_owned());
                }
            }
            if let Some(id) = id {
                events.push(Event {
                    id,
                    kind,
                    data: data.join("\n"),
                });
            }
        }
    }
    (events, comments)
}

async fn gateway(
    log: &SharedLog,
    addr: &str,
    options: GatewayOptions,
) -> (SseGateway, oneshot::Sender<()>) {
    let (tx, rx) = oneshot::channel::<()>();
    let g = SseGateway::bind(addr, log.clone(), options, async {
        let _ = rx.await;
    })
    .await
    .expect("binds");
    (g, tx)
}

#[tokio::test]
async fn events_arrive_in_order_and_a_reconnect_gets_exactly_the_missed_ones() {
    let log = SharedLog::new(10_000);
    let (g, stop) = gateway(&log, "127.0.0.1:0", GatewayOptions::default()).await;
    let url = g.stream_url();
    log.publish(&records(100, 0));

    let (first, _) = read_events(&url, None, 100).await;
    assert_eq!(
        first.iter().map(|e| e.id).collect::<Vec<_>>(),
        (1..=100).collect::<Vec<_>>()
    );
    assert!(first[41].data.contains("\"obs-41\""));

    // The client "drops" after id 60 and more events are published meanwhile.
    log.publish(&records(50, 100));
    let (resumed, _) = read_events(&url, Some(60), 90).await;
    assert_eq!(
        resumed.iter().map(|e| e.id).collect::<Vec<_>>(),
        (61..=150).collect::<Vec<_>>()
    );
    assert_eq!(resumed[0].data, first[60].data);

    // Live events reach a connected client.
    let url2 = url.clone();
    let reader = tokio::spawn(async move { read_events(&url2, Some(150), 5).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    log.publish(&records(5, 150));
    let (live, _) = reader.await.expect("reader");
    assert_eq!(
        live.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![151, 152, 153, 154, 155]
    );

    let health: serde_json::Value = reqwest::get(format!("http://{}/health", g.local_addr()))
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["last_event_id"], 155);
    let missing = reqwest::get(format!("http://{}/nope", g.local_addr()))
        .await
        .expect("404");
    assert_eq!(missing.status(), 404);

    let _ = stop.send(());
    g.stopped().await;
}

#[tokio::test]
async fn a_client_resumes_across_a_gateway_stop_and_restart_on_the_same_port() {
    let log = SharedLog::new(10_000);
    let (g, stop) = gateway(&log, "127.0.0.1:0", GatewayOptions::default()).await;
    let addr = g.local_addr();
    let url = g.stream_url();
    log.publish(&records(30, 0));
    let (before, _) = read_events(&url, None, 30).await;

    // A connected client sees the stream end when the gateway stops.
    let resp = reqwest::get(&url).await.expect("connect");
    let _ = stop.send(());
    g.stopped().await;
    let body = tokio::time::timeout(Duration::from_secs(5), resp.bytes())
        .await
        .expect("ends");
    assert!(body.is_ok(), "clean end of stream: {body:?}");
    assert!(
        reqwest::get(&url).await.is_err(),
        "nothing listens while stopped"
    );

    // The simulator keeps publishing into the log while the gateway is down.
    log.publish(&records(20, 30));
    let (g2, stop2) = gateway(&log, &addr.to_string(), GatewayOptions::default()).await;
    assert_eq!(g2.local_addr(), addr);
    let last = before.last().map(|e| e.id);
    let (after, _) = read_events(&url, last, 20).await;
    assert_eq!(
        after.iter().map(|e| e.id).collect::<Vec<_>>(),
        (31..=50).collect::<Vec<_>>()
    );
    assert!(after[0].data.contains("\"obs-30\""));
    let _ = stop2.send(());
    g2.stopped().await;
}

#[tokio::test]
async fn idle_streams_get_keepalive_comments_and_evictions_are_announced() {
    let log = SharedLog::new(10);
    let options = GatewayOptions {
        keepalive: Duration::from_millis(100),
        ..GatewayOptions::default()
    };
    let (g, stop) = gateway(&log, "127.0.0.1:0", options).await;
    log.publish(&records(25, 0));
    let url = g.stream_url();
    let reader = tokio::spawn(async move { read_events(&url, Some(3), 12).await });
    tokio::time::sleep(Duration::from_millis(350)).await;
    log.publish(&records(1, 25));
    let (events, comments) = reader.await.expect("reader");
    // Asked from 4, the gateway holds 16-25 of them: the client is told
    // which it lost, in a `gap` event whose id resumes past them.
    assert_eq!(
        events.first(),
        Some(&Event {
            id: 15,
            kind: Some("gap".into()),
            data: r#"{"first":4,"last":15}"#.into()
        })
    );
    assert_eq!(
        events.get(1).map(|e| (e.id, e.kind.clone())),
        Some((16, None)),
        "oldest buffered of 25 with capacity 10"
    );
    assert_eq!(events.last().map(|e| e.id), Some(26));
    assert!(comments.iter().any(|c| c == "keepalive"), "{comments:?}");
    let bad = reqwest::Client::new()
        .get(g.stream_url())
        .header("Last-Event-ID", "abc")
        .send()
        .await
        .expect("responds");
    assert_eq!(bad.status(), 400);
    let _ = stop.send(());
    g.stopped().await;
}

#[tokio::test]
async fn a_simulation_streams_through_the_gateway_end_to_end() {
    let log = SharedLog::default();
    let (g, stop) = gateway(&log, "127.0.0.1:0", GatewayOptions::default()).await;
    let mut config = GeneratorConfig::new(crate::patients(3), 4, crate::start());
    config.duration_s = Some(10);
    config.scenario = Scenario::default().with_malformed(0.1, &MalformedKind::ALL);
    let mut sink = log.clone();
    let report = run_sim(
        Generator::new(config).expect("config"),
        &mut sink,
        Pace::AsFastAsPossible,
        std::future::pending(),
    )
    .await
    .expect("runs");
    let (events, _) = read_events(&g.stream_url(), None, report.emitted_total as usize).await;
    assert_eq!(events.len() as u64, report.emitted_total);
    assert_eq!(log.last_id(), report.emitted_total);
    let _ = stop.send(());
    g.stopped().await;
}
