//! AWS Signature Version 4 request signing, written from AWS's published
//! algorithm: build the canonical request, hash it into the string to sign,
//! derive the signing key from the secret by chained HMAC-SHA256 over date,
//! region, service and `aws4_request`, and sign.
//!
//! The signer never sees a body, only its SHA-256 (callers hash what they
//! send), and it never reads the clock: the caller passes the signing time, so
//! signatures are reproducible in tests and replay. Nothing here logs: the
//! inputs include the secret key and the outputs a session token.

use std::fmt;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use reqwest::Url;
use sha2::{Digest, Sha256};

use crate::error::Error;

/// The only algorithm SigV4 defines for headers-based signing.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// SHA-256 of the empty string: the payload hash of a request without a body.
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// An AWS access key pair, and the session token that comes with temporary
/// (STS) credentials. `Debug` shows only the access key id.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The public half, e.g. `AKIDEXAMPLE`; it appears in every request.
    pub access_key_id: String,
    /// The secret; it never leaves this process, only HMACs made with it do.
    pub secret_access_key: String,
    /// Set for temporary credentials; sent as `X-Amz-Security-Token`.
    pub session_token: Option<String>,
}

impl Credentials {
    /// Reads credentials named by a spec of the form `env:PREFIX`:
    /// `PREFIX_ACCESS_KEY_ID`, `PREFIX_SECRET_ACCESS_KEY` and optionally
    /// `PREFIX_SESSION_TOKEN`. Wardwatch stores the spec, never the keys.
    /// The error says which variable is missing (never a value).
    pub fn from_env_spec(spec: &str) -> Result<Credentials, String> {
        let prefix = spec
            .strip_prefix("env:")
            .filter(|p| !p.is_empty())
            .ok_or_else(|| format!("credentials `{spec}` must be env:PREFIX"))?;
        let var = |suffix: &str| {
            std::env::var(format!("{prefix}_{suffix}"))
                .ok()
                .filter(|v| !v.is_empty())
        };
        Ok(Credentials {
            access_key_id: var("ACCESS_KEY_ID")
                .ok_or_else(|| format!("{prefix}_ACCESS_KEY_ID is not set"))?,
            secret_access_key: var("SECRET_ACCESS_KEY")
                .ok_or_else(|| format!("{prefix}_SECRET_ACCESS_KEY is not set"))?,
            session_token: var("SESSION_TOKEN"),
        })
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Where a signature is valid: one region and one service (`kinesis`, `s3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope<'a> {
    pub region: &'a str,
    pub service: &'a str,
}

/// What gets signed. `Host`, `X-Amz-Date` and (with a session token)
/// `X-Amz-Security-Token` are added by [`sign`]; `headers` lists the other
/// headers to sign, exactly as they will be sent.
#[derive(Debug, Clone, Copy)]
pub struct SignableRequest<'a> {
    pub method: &'a str,
    pub url: &'a Url,
    pub headers: &'a [(&'a str, &'a str)],
    /// Lowercase hex SHA-256 of the body ([`sha256_hex`]), or
    /// [`EMPTY_PAYLOAD_SHA256`].
    pub payload_sha256: &'a str,
}

/// The result of signing: the headers to add to the request, plus the
/// intermediate strings, which make a mismatch with a server debuggable.
/// `Debug` leaves out the session token (it also sits in the canonical request).
#[derive(Clone, PartialEq, Eq)]
pub struct Signature {
    /// Value of the `Authorization` header.
    pub authorization: String,
    /// Value of the `X-Amz-Date` header (`YYYYMMDD'T'HHMMSS'Z'`).
    pub amz_date: String,
    /// Value of the `X-Amz-Security-Token` header, for temporary credentials.
    pub security_token: Option<String>,
    /// `host;x-amz-date;…`: the lowercase names that were signed.
    pub signed_headers: String,
    /// Lowercase hex signature (also inside `authorization`).
    pub signature: String,
    pub canonical_request: String,
    pub string_to_sign: String,
}

impl Signature {
    /// The headers to set on the outgoing request, besides `Host` (which the
    /// HTTP client derives from the URL exactly as [`sign`] did).
    pub fn headers(&self) -> Vec<(&'static str, &str)> {
        let mut out = vec![
            ("authorization", self.authorization.as_str()),
            ("x-amz-date", self.amz_date.as_str()),
        ];
        if let Some(token) = &self.security_token {
            out.push(("x-amz-security-token", token.as_str()));
        }
        out
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signature")
            .field("amz_date", &self.amz_date)
            .field("signed_headers", &self.signed_headers)
            .field("signature", &self.signature)
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// Signs `request` with `credentials` for `scope` at time `at`.
///
/// Fails only when the URL has no host (nothing could be sent to it anyway).
pub fn sign(
    request: &SignableRequest<'_>,
    credentials: &Credentials,
    scope: Scope<'_>,
    at: DateTime<Utc>,
) -> Result<Signature, Error> {
    let amz_date = at.format("%Y%m%dT%H%M%SZ").to_string();
    let date = &amz_date[..8];
    let host = host_header(request.url).ok_or_else(|| Error::Endpoint {
        endpoint: request.url.to_string(),
        reason: "the url has no host".into(),
    })?;

    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), canonical_header_value(value)))
        // The signer owns these three; a caller's copy would be signed twice.
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "host" | "x-amz-date" | "x-amz-security-token"
            )
        })
        .collect();
    headers.push(("host".into(), host));
    headers.push(("x-amz-date".into(), amz_date.clone()));
    if let Some(token) = &credentials.session_token {
        headers.push(("x-amz-security-token".into(), canonical_header_value(token)));
    }
    // A stable sort keeps repeated headers in the order they are sent, which
    // is the order their values must be joined in.
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let mut canonical_headers = String::new();
    let mut signed_headers = String::new();
    let mut i = 0;
    while i < headers.len() {
        let name = &headers[i].0;
        let mut values = vec![headers[i].1.as_str()];
        let mut j = i + 1;
        while j < headers.len() && headers[j].0 == *name {
            values.push(&headers[j].1);
            j += 1;
        }
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(&values.join(","));
        canonical_headers.push('\n');
        if !signed_headers.is_empty() {
            signed_headers.push(';');
        }
        signed_headers.push_str(name);
        i = j;
    }

    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method.to_ascii_uppercase(),
        canonical_uri(request.url, scope.service),
        canonical_query(request.url.query().unwrap_or("")),
        canonical_headers,
        signed_headers,
        request.payload_sha256,
    );
    let credential_scope = format!("{date}/{}/{}/aws4_request", scope.region, scope.service);
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{credential_scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let key = signing_key(
        &credentials.secret_access_key,
        date,
        scope.region,
        scope.service,
    );
    let signature = hex(&hmac_sha256(&key, string_to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{credential_scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id
    );
    Ok(Signature {
        authorization,
        amz_date,
        security_token: credentials.session_token.clone(),
        signed_headers,
        signature,
        canonical_request,
        string_to_sign,
    })
}

/// The derived signing key: `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date),
/// region), service), "aws4_request")`, `date` as `YYYYMMDD`. It is valid for
/// that one day, region and service, so it could be cached per day.
pub fn signing_key(secret_access_key: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(
        format!("AWS4{secret_access_key}").as_bytes(),
        date.as_bytes(),
    );
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// Lowercase hex SHA-256, the form SigV4 uses for payload hashes.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// `host[:port]` as an HTTP client sends it: the port only when it is not the
/// scheme's default (`Url::port` is `None` for default ports).
fn host_header(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

/// Trims the value and collapses runs of spaces, as the canonical form wants.
fn canonical_header_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The path as sent (the `Url` keeps it percent-encoded and without dot
/// segments), URI-encoded once more for every service but S3, as AWS
/// specifies; for Kinesis it is always `/`.
fn canonical_uri(url: &Url, service: &str) -> String {
    let path = url.path();
    if path.is_empty() {
        return "/".into();
    }
    if service == "s3" {
        return path.to_string();
    }
    path.split('/')
        .map(|segment| uri_encode(segment.as_bytes()))
        .collect::<Vec<_>>()
        .join("/")
}

/// Sorted `name=value` pairs, each side decoded and re-encoded with SigV4's
/// rules. The raw query is parsed by hand because form decoding would turn
/// `+` into a space, which AWS does not.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, value) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(name)),
                uri_encode(&percent_decode(value)),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// RFC 3986 encoding as SigV4 defines it: unreserved characters stay, every
/// other byte becomes `%XY` with uppercase hex.
fn uri_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hi = (bytes[i + 1] as char).to_digit(16);
            let lo = (bytes[i + 2] as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    //! Expected values are AWS's published ones: the SigV4 test suite
    //! (AKIDEXAMPLE, region us-east-1, service `service`, 2015-08-30T12:36:00Z)
    //! and the IAM documentation's signing-key and ListUsers examples.
    use super::*;
    use chrono::TimeZone;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const SUITE_SCOPE: Scope<'static> = Scope {
        region: "us-east-1",
        service: "service",
    };
    const SUITE_TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

    fn creds(token: Option<&str>) -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: SECRET.into(),
            session_token: token.map(str::to_string),
        }
    }

    fn suite_time() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2015, 8, 30, 12, 36, 0)
            .single()
            .expect("a valid date")
    }

    fn suite_sign(
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        token: Option<&str>,
    ) -> Signature {
        let url = Url::parse(url).expect("test url parses");
        let hash = sha256_hex(body);
        sign(
            &SignableRequest {
                method,
                url: &url,
                headers,
                payload_sha256: &hash,
            },
            &creds(token),
            SUITE_SCOPE,
            suite_time(),
        )
        .expect("signs")
    }

    #[test]
    fn derived_signing_key_matches_iam_docs_example() {
        let key = signing_key(SECRET, "20120215", "us-east-1", "iam");
        assert_eq!(
            hex(&key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn get_vanilla() {
        let s = suite_sign("GET", "https://example.amazonaws.com/", &[], b"", None);
        assert_eq!(
            s.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
             bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );
        assert_eq!(
            s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        assert_eq!(s.amz_date, "20150830T123600Z");
        assert_eq!(
            s.headers().len(),
            2,
            "no token header without a session token"
        );
    }

    #[test]
    fn get_vanilla_query_order_key_case_sorts_the_query() {
        let s = suite_sign(
            "GET",
            "https://example.amazonaws.com/?Param2=value2&Param1=value1",
            &[],
            b"",
            None,
        );
        assert!(
            s.canonical_request
                .contains("\nParam1=value1&Param2=value2\n")
        );
        assert_eq!(
            s.signature,
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        );
    }

    #[test]
    fn post_vanilla() {
        let s = suite_sign("POST", "https://example.amazonaws.com/", &[], b"", None);
        assert_eq!(
            s.signature,
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        );
    }

    #[test]
    fn post_vanilla_query() {
        let s = suite_sign(
            "POST",
            "https://example.amazonaws.com/?Param1=value1",
            &[],
            b"",
            None,
        );
        assert_eq!(
            s.signature,
            "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"
        );
    }

    #[test]
    fn post_x_www_form_urlencoded_signs_body_hash_and_content_type() {
        let s = suite_sign(
            "POST",
            "https://example.amazonaws.com/",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"Param1=value1",
            None,
        );
        assert_eq!(
            s.canonical_request,
            "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\n\
             x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n\
             9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
        );
        assert_eq!(
            s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
             42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281"
        );
        assert_eq!(
            s.signature,
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
        );
    }

    #[test]
    fn post_header_key_case_and_value_trim() {
        // post-header-key-case: names are lowercased; get-header-value-trim
        // style padding is removed before signing.
        let s = suite_sign(
            "POST",
            "https://example.amazonaws.com/",
            &[("MY-HEADER1", "  value1  ")],
            b"",
            None,
        );
        assert_eq!(s.signed_headers, "host;my-header1;x-amz-date");
        assert_eq!(
            s.signature,
            "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"
        );
    }

    #[test]
    fn get_header_value_trim_collapses_inner_spaces() {
        let s = suite_sign(
            "GET",
            "https://example.amazonaws.com/",
            &[("My-Header1", " value1"), ("My-Header2", "\"a   b   c\"")],
            b"",
            None,
        );
        assert_eq!(
            s.signature,
            "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"
        );
    }

    #[test]
    fn post_sts_header_before_signs_the_session_token() {
        let s = suite_sign(
            "POST",
            "https://example.amazonaws.com/",
            &[],
            b"",
            Some(SUITE_TOKEN),
        );
        assert_eq!(s.signed_headers, "host;x-amz-date;x-amz-security-token");
        assert_eq!(
            s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
             c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6"
        );
        assert_eq!(
            s.signature,
            "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"
        );
        assert!(s.headers().contains(&("x-amz-security-token", SUITE_TOKEN)));
    }

    #[test]
    fn iam_docs_list_users_example() {
        // The IAM guide's worked example: GET ListUsers, 2015-08-30, service iam.
        let url = Url::parse("https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08")
            .expect("url parses");
        let s = sign(
            &SignableRequest {
                method: "GET",
                url: &url,
                headers: &[(
                    "Content-Type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                )],
                payload_sha256: EMPTY_PAYLOAD_SHA256,
            },
            &creds(None),
            Scope {
                region: "us-east-1",
                service: "iam",
            },
            suite_time(),
        )
        .expect("signs");
        assert_eq!(
            s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n\
             f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        assert_eq!(
            hex(&signing_key(SECRET, "20150830", "us-east-1", "iam")),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        assert_eq!(
            s.signature,
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn host_header_carries_a_non_default_port() {
        let s = suite_sign("POST", "http://127.0.0.1:4567/", &[], b"", None);
        assert!(s.canonical_request.contains("\nhost:127.0.0.1:4567\n"));
        let s = suite_sign("POST", "https://example.amazonaws.com:443/", &[], b"", None);
        assert!(
            s.canonical_request
                .contains("\nhost:example.amazonaws.com\n")
        );
    }

    #[test]
    fn query_plus_is_a_plus_not_a_space() {
        assert_eq!(canonical_query("b=1+2&a=%20x&c"), "a=%20x&b=1%2B2&c=");
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let s = suite_sign(
            "POST",
            "https://example.amazonaws.com/",
            &[],
            b"",
            Some(SUITE_TOKEN),
        );
        let shown = format!("{:?} {:?}", creds(Some(SUITE_TOKEN)), s);
        assert!(!shown.contains(SECRET));
        assert!(!shown.contains(SUITE_TOKEN));
        assert!(shown.contains("AKIDEXAMPLE"));
    }
}
