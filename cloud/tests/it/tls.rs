//! A Kinesis endpoint behind a hospital's own CA: kinesalite over TLS with a
//! certificate the test CA signed (scripts/peers.sh).

use std::time::Duration;

use wardwatch_cloud::{ErrorKind, KinesisClient, KinesisConfig};

use crate::peers::{stream_name, test_credentials};

fn client(ca_bundle: Option<String>) -> KinesisClient {
    let url = std::env::var("WARDWATCH_KINESALITE_HTTPS_URL")
        .expect("WARDWATCH_KINESALITE_HTTPS_URL: run the tests through scripts/test.sh");
    KinesisClient::new(KinesisConfig {
        endpoint: url,
        region: "us-east-1".into(),
        credentials: test_credentials().into(),
        timeout: Duration::from_secs(20),
        ca_bundle,
    })
    .expect("client")
}

#[tokio::test]
async fn a_private_ca_is_trusted_only_when_its_bundle_is_given_and_the_error_says_so() {
    let ca =
        std::env::var("WARDWATCH_SEAWEEDFS_CA_BUNDLE").expect("the test CA (scripts/peers.sh)");
    let stream = stream_name("tls");
    let e = client(None)
        .create_stream(&stream, 1)
        .await
        .expect_err("an unknown issuer");
    assert_eq!(e.kind(), ErrorKind::Transient, "{e}");
    let text = e.to_string().to_lowercase();
    assert!(
        text.contains("certificate") || text.contains("issuer"),
        "the reason is named: {e}"
    );
    assert!(text.contains("ca bundle"), "and the fix: {e}");
    let trusting = client(Some(ca));
    trusting.create_stream(&stream, 1).await.expect("trusted");
    let summary = trusting
        .wait_for_active(&stream, Duration::from_secs(30))
        .await
        .expect("active");
    assert_eq!(summary.stream_name, stream);
    trusting
        .put_record(&stream, "WW100001", b"{}")
        .await
        .expect("a record over TLS");
}
