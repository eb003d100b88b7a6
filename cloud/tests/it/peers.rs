//! Finding the servers, building clients for them, and the helpers every test
//! uses: unique stream names, reading a shard to its end, and the lock that
//! keeps moto's authentication switch from surprising concurrent tests.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::{RwLock, RwLockReadGuard};
use wardwatch_cloud::{Credentials, IteratorStart, KinesisClient, KinesisConfig, KinesisRecord};

/// One of the two servers the suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Kinesalite,
    Moto,
}

impl Peer {
    pub fn url(self) -> String {
        let var = match self {
            Peer::Kinesalite => "WARDWATCH_KINESALITE_URL",
            Peer::Moto => "WARDWATCH_MOTO_URL",
        };
        match std::env::var(var) {
            Ok(url) if !url.is_empty() => url,
            _ => panic!(
                "{var} is not set: run these tests via scripts/test.sh, or start the servers with \
                 `scripts/peers.sh start target/peers.env && . target/peers.env` first"
            ),
        }
    }
}

/// moto's IAM check is one switch for the whole server: the auth test holds
/// this for writing while it is on; every other moto test holds it for reading.
pub static MOTO_AUTH: RwLock<()> = RwLock::const_new(());

/// Held for a test's duration; only moto tests take the lock.
#[derive(Debug)]
pub struct PeerGuard(#[allow(dead_code)] Option<RwLockReadGuard<'static, ()>>);

pub async fn guard(peer: Peer) -> PeerGuard {
    PeerGuard(match peer {
        Peer::Moto => Some(MOTO_AUTH.read().await),
        Peer::Kinesalite => None,
    })
}

pub fn test_credentials() -> Credentials {
    Credentials {
        access_key_id: "AKIDWARDWATCHTEST".into(),
        secret_access_key: "wardwatch-test-secret".into(),
        session_token: None,
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("an http client with default settings")
}

pub fn client(peer: Peer) -> KinesisClient {
    client_with(peer, test_credentials())
}

pub fn client_with(peer: Peer, credentials: Credentials) -> KinesisClient {
    KinesisClient::new(KinesisConfig {
        endpoint: peer.url(),
        region: "us-east-1".into(),
        credentials: credentials.into(),
        timeout: Duration::from_secs(20),
        ca_bundle: None,
    })
    .expect("the peer url is a valid endpoint")
}

/// A stream name no other test or earlier run uses.
pub fn stream_name(test: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .subsec_nanos();
    format!(
        "ww-{test}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates a stream and waits until it is ACTIVE.
pub async fn active_stream(client: &KinesisClient, test: &str, shards: u32) -> String {
    let name = stream_name(test);
    client
        .create_stream(&name, shards)
        .await
        .expect("create stream");
    client
        .wait_for_active(&name, Duration::from_secs(20))
        .await
        .expect("stream becomes active");
    name
}

/// Reads one shard from `start` until the server says the shard is closed and
/// drained (`next_shard_iterator == None`) or a page comes back empty. Both
/// servers here return every stored record at once, so an empty page means
/// "caught up"; against AWS a reader would keep polling instead.
pub async fn read_shard(
    client: &KinesisClient,
    stream: &str,
    shard_id: &str,
    start: IteratorStart,
) -> (Vec<KinesisRecord>, bool) {
    let mut iterator = client
        .get_shard_iterator(stream, shard_id, start)
        .await
        .expect("shard iterator");
    let mut records = Vec::new();
    for _ in 0..1000 {
        // A small limit makes the reader follow several pages.
        let page = client.get_records(&iterator, 7).await.expect("get records");
        let empty = page.records.is_empty();
        records.extend(page.records);
        match page.next_shard_iterator {
            None => return (records, true),
            Some(next) if !empty => iterator = next,
            Some(_) => return (records, false),
        }
    }
    panic!("shard {shard_id} of {stream} never ran dry");
}

/// Sends a signed request to moto's IAM (Query protocol) and returns the XML.
pub async fn moto_iam(params: &[(&str, &str)]) -> String {
    let url = reqwest::Url::parse(&Peer::Moto.url()).expect("moto url");
    let mut body = String::from("Version=2010-05-08");
    for (k, v) in params {
        body.push('&');
        body.push_str(k);
        body.push('=');
        body.push_str(&form_encode(v));
    }
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    // Signed by AWS's own SigV4 implementation (aws-sigv4).
    let keys = test_credentials();
    let identity: aws_smithy_runtime_api::client::identity::Identity =
        aws_credential_types::Credentials::new(
            keys.access_key_id,
            keys.secret_access_key,
            None,
            None,
            "test",
        )
        .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("iam")
        .time(std::time::SystemTime::now())
        .settings(aws_sigv4::http_request::SigningSettings::default())
        .build()
        .expect("signing params")
        .into();
    let signable = aws_sigv4::http_request::SignableRequest::new(
        "POST",
        url.as_str(),
        [("content-type", content_type)].into_iter(),
        aws_sigv4::http_request::SignableBody::Bytes(body.as_bytes()),
    )
    .expect("signable");
    let (instructions, _) = aws_sigv4::http_request::sign(signable, &params)
        .expect("sign iam request")
        .into_parts();
    let mut request = http()
        .post(url)
        .header("content-type", content_type)
        .body(body);
    for (name, value) in instructions.headers() {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("moto answers iam");
    let status = response.status();
    let text = response.text().await.expect("iam body");
    assert!(
        status.is_success(),
        "iam {params:?} failed: {status} {text}"
    );
    text
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The text of the first `<tag>` in an XML answer.
pub fn xml_field(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        + open.len();
    let end = start + xml[start..].find('<').expect("closing tag");
    xml[start..end].to_string()
}

/// Sets moto's "first N requests need no authentication" counter through its
/// control API (`POST /moto-api/reset-auth`). Blocking std I/O on purpose: the
/// guard's `Drop` must be able to switch authentication off again even while
/// a failing test unwinds.
pub fn moto_set_auth_budget(budget: &str) {
    use std::io::{Read, Write};
    let url = reqwest::Url::parse(&Peer::Moto.url()).expect("moto url");
    let addr = format!(
        "{}:{}",
        url.host_str().expect("moto host"),
        url.port_or_known_default().expect("moto port")
    );
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect to moto");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    write!(
        stream,
        "POST /moto-api/reset-auth HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{budget}",
        budget.len()
    )
    .expect("send reset-auth");
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .expect("reset-auth answer");
    assert!(
        answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"),
        "{answer}"
    );
}
