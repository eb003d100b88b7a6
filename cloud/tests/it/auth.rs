//! What each server checks about credentials, and that our signatures pass a
//! server that verifies them.
//!
//! - kinesalite never verifies a signature: it only insists that a request
//!   carries an `Authorization` header with `Credential`, `Signature` and
//!   `SignedHeaders` and an `X-Amz-Date`, and answers
//!   `MissingAuthenticationTokenException` / `IncompleteSignatureException`
//!   otherwise.
//! - moto accepts any key by default. With its IAM check switched on (control
//!   API `POST /moto-api/reset-auth`), it recomputes the SigV4 signature with
//!   botocore for the key's secret, refuses unknown keys, and applies IAM
//!   policies: an independent verifier for our signer.

use wardwatch_cloud::{Credentials, Error, ErrorKind};

use crate::peers::{
    MOTO_AUTH, Peer, client, client_with, http, moto_iam, moto_set_auth_budget, stream_name,
    xml_field,
};

#[tokio::test]
async fn kinesalite_refuses_unsigned_requests_but_accepts_any_key() {
    let url = Peer::Kinesalite.url();
    let response = http()
        .post(&url)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "Kinesis_20131202.ListStreams")
        .body("{}")
        .send()
        .await
        .expect("kinesalite answers");
    let status = response.status().as_u16();
    let body = response.bytes().await.expect("body");
    let err = Error::from_response(
        wardwatch_cloud::Context {
            operation: "ListStreams",
            endpoint: url,
            stream: None,
            shard: None,
        },
        status,
        None,
        &body,
    );
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert_eq!(err.aws_code(), Some("MissingAuthenticationTokenException"));

    // Any key pair passes: kinesalite cannot tell a wrong secret. If this
    // starts failing, kinesalite verifies signatures and the moto test below
    // should run against it too.
    let wrong = client_with(
        Peer::Kinesalite,
        Credentials {
            access_key_id: "AKIDNOBODY".into(),
            secret_access_key: "not-the-secret".into(),
            session_token: Some("some-session-token".into()),
        },
    );
    let e = wrong
        .describe_stream_summary(&stream_name("nobody"))
        .await
        .expect_err("no such stream");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

/// Switches moto's IAM check off again however the test ends.
struct AuthOff;

impl Drop for AuthOff {
    fn drop(&mut self) {
        moto_set_auth_budget("inf");
    }
}

#[tokio::test]
async fn moto_with_iam_checks_accepts_our_signature_and_refuses_bad_ones() {
    // No other moto test may run while moto checks credentials.
    let _exclusive = MOTO_AUTH.write().await;
    // The next three requests (the IAM set-up below) pass unchecked; every
    // later one is verified.
    moto_set_auth_budget("3");
    let _off = AuthOff;

    let user = stream_name("user");
    moto_iam(&[("Action", "CreateUser"), ("UserName", &user)]).await;
    let key = moto_iam(&[("Action", "CreateAccessKey"), ("UserName", &user)]).await;
    let access_key_id = xml_field(&key, "AccessKeyId");
    let secret_access_key = xml_field(&key, "SecretAccessKey");
    moto_iam(&[
        ("Action", "PutUserPolicy"),
        ("UserName", &user),
        ("PolicyName", "kinesis-all"),
        (
            "PolicyDocument",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kinesis:*","Resource":"*"}]}"#,
        ),
    ])
    .await;

    let good = client_with(
        Peer::Moto,
        Credentials {
            access_key_id: access_key_id.clone(),
            secret_access_key: secret_access_key.clone(),
            session_token: None,
        },
    );
    let stream = stream_name("signed");
    good.create_stream(&stream, 1)
        .await
        .expect("moto verifies our signature over a JSON body");
    good.describe_stream_summary(&stream)
        .await
        .expect("a second signed call");

    let wrong_secret = client_with(
        Peer::Moto,
        Credentials {
            access_key_id,
            secret_access_key: format!("{secret_access_key}x"),
            session_token: None,
        },
    );
    let e = wrong_secret
        .describe_stream_summary(&stream)
        .await
        .expect_err("a wrong secret gives a wrong signature");
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(!e.to_string().contains(&secret_access_key), "{e}");

    let unknown_key = client(Peer::Moto);
    let e = unknown_key
        .describe_stream_summary(&stream)
        .await
        .expect_err("moto knows no such key");
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
}
