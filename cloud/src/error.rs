//! The crate's one error type, and the [`ErrorKind`] callers branch on.
//!
//! AWS reports failures as an error code (`__type` in a JSON 1.1 body, the
//! `x-amzn-ErrorType` header, or `<Code>` in the XML some servers send for
//! signature failures) plus a human message. The code decides the kind; the
//! kind decides what a caller does (retry, recreate, re-authenticate, fetch a
//! new iterator) and what the UI says. Messages from the server are kept but
//! scrubbed of echoed request values, because a Kinesis validation message can
//! quote a partition key or record, and those carry patient data.

use std::fmt;
use std::time::Duration;

/// What kind of failure an [`Error`] is; stable, for code to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Throttling, 5xx, connection refused or reset, timeouts: retry the same
    /// request with backoff.
    Transient,
    /// The stream or shard does not exist (or no longer does).
    NotFound,
    /// The server refused the credentials or the signature.
    Auth,
    /// The shard iterator is older than five minutes: get a new one.
    ExpiredIterator,
    /// The request itself is wrong (names, sizes, hash keys); retrying the
    /// same request fails the same way.
    InvalidInput,
    /// The stream exists but is busy (CREATING, UPDATING, DELETING) or, for
    /// `create_stream`, already exists.
    InUse,
    /// The server does not implement the operation (e.g. kinesalite has no
    /// `UpdateShardCount`).
    Unsupported,
    /// Anything else, e.g. an answer that is not Kinesis JSON.
    Other,
}

impl ErrorKind {
    /// A short stable code for the UI (`{ code, message }`).
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Transient => "transient",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Auth => "auth",
            ErrorKind::ExpiredIterator => "expired_iterator",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::InUse => "in_use",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Other => "other",
        }
    }

    /// The kind of an AWS error code, falling back on the HTTP status when
    /// the code is unknown (or absent).
    pub fn from_aws_code(code: &str, status: u16) -> ErrorKind {
        match code {
            "ResourceNotFoundException" => ErrorKind::NotFound,
            "ExpiredIteratorException" => ErrorKind::ExpiredIterator,
            // Kinesis uses LimitExceededException for "too many control-plane
            // calls per second" as well as for account limits; AWS documents
            // both as retry-later conditions.
            "ProvisionedThroughputExceededException"
            | "LimitExceededException"
            | "ThrottlingException"
            | "Throttling"
            | "KMSThrottlingException"
            | "RequestTimeout"
            | "RequestTimeoutException"
            | "InternalFailure"
            | "InternalServerError"
            | "InternalFailureException"
            | "ServiceUnavailable"
            | "ServiceUnavailableException" => ErrorKind::Transient,
            "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "IncompleteSignatureException"
            | "MissingAuthenticationTokenException"
            | "MissingAuthenticationToken"
            | "SignatureDoesNotMatch"
            | "InvalidClientTokenId"
            | "ExpiredTokenException"
            | "ExpiredToken"
            | "AccessDeniedException"
            | "AccessDenied"
            | "KMSAccessDeniedException" => ErrorKind::Auth,
            "InvalidArgumentException"
            | "ValidationException"
            | "SerializationException"
            | "KMSInvalidStateException"
            | "KMSDisabledException"
            | "KMSNotFoundException"
            | "KMSOptInRequired" => ErrorKind::InvalidInput,
            "ResourceInUseException" => ErrorKind::InUse,
            "UnknownOperationException" | "NotImplemented" => ErrorKind::Unsupported,
            _ => match status {
                429 | 500..=599 => ErrorKind::Transient,
                401 | 403 => ErrorKind::Auth,
                400 | 413 => ErrorKind::InvalidInput,
                _ => ErrorKind::Other,
            },
        }
    }

    /// What to do about it, for the end of an error message.
    fn advice(self) -> &'static str {
        match self {
            ErrorKind::Transient => "retry with backoff",
            ErrorKind::NotFound => "create the stream or check the stream and shard names",
            ErrorKind::Auth => {
                "check the access key id, secret, session token and this machine's clock"
            }
            ErrorKind::ExpiredIterator => "get a new shard iterator and read again",
            ErrorKind::InvalidInput => "fix the request; retrying it unchanged fails again",
            ErrorKind::InUse => "wait until the stream is ACTIVE, or use the existing stream",
            ErrorKind::Unsupported => "this server does not implement the operation",
            ErrorKind::Other => "check that the endpoint is a Kinesis Data Streams server",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Which call failed: operation, endpoint and, where known, stream and shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The Kinesis operation, e.g. `GetRecords`.
    pub operation: &'static str,
    pub endpoint: String,
    pub stream: Option<String>,
    pub shard: Option<String>,
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.operation)?;
        if let Some(stream) = &self.stream {
            write!(f, " on stream `{stream}`")?;
        }
        if let Some(shard) = &self.shard {
            write!(f, " shard `{shard}`")?;
        }
        write!(f, " at {}", self.endpoint)
    }
}

/// Every failure of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an AWS error.
    #[error("kinesis {context} failed with {code} (http {status}): {message}: {advice}", advice = kind.advice())]
    Service {
        context: Box<Context>,
        status: u16,
        /// The AWS error code, e.g. `ResourceNotFoundException`.
        code: String,
        /// The server's message, with echoed request values removed.
        message: String,
        kind: ErrorKind,
    },
    /// No HTTP answer: connection refused or reset, timeout, TLS failure.
    #[error(
        "kinesis {context}: no answer from the server ({source}): check the endpoint, the network and, behind a private CA, the CA bundle; then retry"
    )]
    Transport {
        context: Box<Context>,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An answer that is not what the Kinesis JSON 1.1 protocol specifies.
    #[error(
        "kinesis {context}: unexpected answer (http {status}): {detail}: check that the endpoint is a Kinesis Data Streams server"
    )]
    Response {
        context: Box<Context>,
        status: u16,
        detail: String,
    },
    /// The request was refused before sending it.
    #[error("kinesis {context}: {problem}")]
    InvalidInput {
        context: Box<Context>,
        problem: String,
    },
    /// The configured endpoint cannot be used.
    #[error(
        "invalid kinesis endpoint `{endpoint}`: {reason}: set an http(s) url such as https://kinesis.eu-west-1.amazonaws.com"
    )]
    Endpoint { endpoint: String, reason: String },
    /// `wait_for_active` gave up.
    #[error(
        "kinesis stream `{stream}` at {endpoint} is still {status} after {waited:?}: wait longer, or check the stream's state"
    )]
    NotActive {
        stream: String,
        endpoint: String,
        status: String,
        waited: Duration,
    },
}

impl Error {
    /// The kind callers branch on.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Service { kind, .. } => *kind,
            Error::Transport { .. } => ErrorKind::Transient,
            Error::Response { status, .. } => {
                // A proxy's HTML 502 page is still worth a retry.
                if *status >= 500 {
                    ErrorKind::Transient
                } else {
                    ErrorKind::Other
                }
            }
            Error::InvalidInput { .. } | Error::Endpoint { .. } => ErrorKind::InvalidInput,
            Error::NotActive { .. } => ErrorKind::Transient,
        }
    }

    /// The AWS error code, for a [`Error::Service`].
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            Error::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Builds the error for a non-2xx answer: reads the AWS error code from the
    /// `x-amzn-ErrorType` header, a JSON `__type`, or an XML `<Code>`, in that
    /// order, and the message from the body.
    pub fn from_response(
        context: Context,
        status: u16,
        error_type_header: Option<&str>,
        body: &[u8],
    ) -> Error {
        let (body_code, body_message) = parse_error_body(body);
        let code = error_type_header
            .map(clean_code)
            .filter(|c| !c.is_empty())
            .or(body_code)
            .unwrap_or_default();
        if code.is_empty() && status < 500 && status != 429 && status != 403 {
            return Error::Response {
                context: Box::new(context),
                status,
                detail: "an error without an AWS error code".into(),
            };
        }
        let kind = ErrorKind::from_aws_code(&code, status);
        Error::Service {
            context: Box::new(context),
            status,
            code: if code.is_empty() {
                format!("http {status}")
            } else {
                code
            },
            message: scrub_message(body_message.as_deref().unwrap_or("no message")),
            kind,
        }
    }
}

/// An error and its sources, one after the other.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `com.amazon.coral.service#UnrecognizedClientException:http://…` →
/// `UnrecognizedClientException`.
fn clean_code(raw: &str) -> String {
    let after_hash = raw.rsplit('#').next().unwrap_or(raw);
    after_hash
        .split(':')
        .next()
        .unwrap_or(after_hash)
        .trim()
        .to_string()
}

fn parse_error_body(body: &[u8]) -> (Option<String>, Option<String>) {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(trimmed) {
            // JSON 1.1 errors: {"__type": "...", "message": "..."}; some
            // servers capitalise `Message`, some wrap it in `Output`.
            let obj = value.get("Output").unwrap_or(&value);
            let code = obj
                .get("__type")
                .or_else(|| obj.get("code"))
                .and_then(|v| v.as_str())
                .map(clean_code);
            let message = obj
                .get("message")
                .or_else(|| obj.get("Message"))
                .and_then(|v| v.as_str())
                .map(str::to_string);
            return (code, message);
        }
        return (None, None);
    }
    if trimmed.starts_with('<') {
        // `<ErrorResponse><Error><Code>X</Code><Message>…` (moto, IAM style)
        // or `<X>\n<Message>…</Message></X>` / `<X/>` (kinesalite).
        let code = xml_text(trimmed, "Code").or_else(|| {
            let tag = trimmed
                .trim_start_matches('<')
                .split(|c: char| c == '>' || c == '/' || c.is_whitespace())
                .next()?;
            // Only an AWS-looking root names the error; `<html>` does not.
            tag.ends_with("Exception").then(|| tag.to_string())
        });
        return (code, xml_text(trimmed, "Message"));
    }
    (None, (!trimmed.is_empty()).then(|| trimmed.to_string()))
}

fn xml_text(doc: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = doc.find(&open)? + open.len();
    let end = start + doc[start..].find(&close)?;
    Some(doc[start..end].trim().to_string())
}

/// Longest server message kept; AWS's own are far shorter.
const MAX_MESSAGE_CHARS: usize = 300;

/// Removes request values a server quotes back (`Value '…' at 'data'`) and
/// caps the length, so error messages are safe to log and show.
fn scrub_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE_CHARS));
    let mut rest = message;
    while let Some(at) = rest.find("Value '") {
        out.push_str(&rest[..at]);
        out.push_str("Value '<redacted>'");
        let after = &rest[at + "Value '".len()..];
        // The quoted value ends at the `' at '` that names the field; without
        // one, drop everything after the opening quote.
        match after.find("' at '") {
            Some(end) => rest = &after[end + 1..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    let trimmed = out.trim().trim_end_matches('.');
    if trimmed.chars().count() > MAX_MESSAGE_CHARS {
        let cut: String = trimmed.chars().take(MAX_MESSAGE_CHARS).collect();
        format!("{cut}…")
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            operation: "GetRecords",
            endpoint: "http://127.0.0.1:4567".into(),
            stream: Some("vitals".into()),
            shard: Some("shardId-000000000001".into()),
        }
    }

    fn kind_of(status: u16, body: &str) -> ErrorKind {
        Error::from_response(ctx(), status, None, body.as_bytes()).kind()
    }

    #[test]
    fn json_error_types_map_to_kinds() {
        let cases = [
            ("ResourceNotFoundException", ErrorKind::NotFound),
            ("ExpiredIteratorException", ErrorKind::ExpiredIterator),
            (
                "ProvisionedThroughputExceededException",
                ErrorKind::Transient,
            ),
            ("LimitExceededException", ErrorKind::Transient),
            ("UnrecognizedClientException", ErrorKind::Auth),
            ("InvalidSignatureException", ErrorKind::Auth),
            ("MissingAuthenticationTokenException", ErrorKind::Auth),
            ("InvalidArgumentException", ErrorKind::InvalidInput),
            ("ValidationException", ErrorKind::InvalidInput),
            ("ResourceInUseException", ErrorKind::InUse),
            ("UnknownOperationException", ErrorKind::Unsupported),
        ];
        for (code, kind) in cases {
            let body = format!(r#"{{"__type":"{code}","message":"m"}}"#);
            assert_eq!(kind_of(400, &body), kind, "{code}");
        }
    }

    #[test]
    fn coral_prefixed_type_and_header_are_understood() {
        let body = r#"{"__type":"com.amazon.coral.service#UnrecognizedClientException","message":"The security token included in the request is invalid."}"#;
        let e = Error::from_response(ctx(), 400, None, body.as_bytes());
        assert_eq!(e.kind(), ErrorKind::Auth);
        assert_eq!(e.aws_code(), Some("UnrecognizedClientException"));

        let e = Error::from_response(
            ctx(),
            400,
            Some("ValidationException:http://internal.amazon.com/coral/com.amazon.coral.validate/"),
            b"{}",
        );
        assert_eq!(e.aws_code(), Some("ValidationException"));
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn xml_signature_errors_are_auth() {
        let moto = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message></Error></Errors></ErrorResponse>";
        let e = Error::from_response(ctx(), 403, None, moto.as_bytes());
        assert_eq!(e.aws_code(), Some("SignatureDoesNotMatch"));
        assert_eq!(e.kind(), ErrorKind::Auth);

        let kinesalite = "<IncompleteSignatureException>\n  <Message>Authorization header requires 'Signature' parameter.</Message>\n</IncompleteSignatureException>\n";
        let e = Error::from_response(ctx(), 403, None, kinesalite.as_bytes());
        assert_eq!(e.aws_code(), Some("IncompleteSignatureException"));
        assert_eq!(e.kind(), ErrorKind::Auth);
    }

    #[test]
    fn status_decides_when_the_code_is_unknown() {
        assert_eq!(
            kind_of(503, "<html>bad gateway</html>"),
            ErrorKind::Transient
        );
        assert_eq!(kind_of(500, ""), ErrorKind::Transient);
        assert_eq!(kind_of(429, ""), ErrorKind::Transient);
        assert_eq!(kind_of(403, ""), ErrorKind::Auth);
        assert_eq!(kind_of(404, "not found"), ErrorKind::Other);
        assert_eq!(
            kind_of(400, r#"{"__type":"SomethingNewException"}"#),
            ErrorKind::InvalidInput
        );
    }

    #[test]
    fn message_names_context_and_advice_without_trailing_period() {
        let body = r#"{"__type":"ResourceNotFoundException","message":"Stream vitals under account 000000000000 not found."}"#;
        let msg = Error::from_response(ctx(), 400, None, body.as_bytes()).to_string();
        assert_eq!(
            msg,
            "kinesis GetRecords on stream `vitals` shard `shardId-000000000001` at http://127.0.0.1:4567 \
             failed with ResourceNotFoundException (http 400): Stream vitals under account 000000000000 \
             not found: create the stream or check the stream and shard names"
        );
        assert!(!msg.ends_with('.'));
    }

    #[test]
    fn echoed_request_values_are_removed_from_messages() {
        let body = r#"{"__type":"ValidationException","message":"1 validation error detected: Value 'patient-4711-secret' at 'partitionKey' failed to satisfy constraint: Member must have length less than or equal to 256"}"#;
        let msg = Error::from_response(ctx(), 400, None, body.as_bytes()).to_string();
        assert!(!msg.contains("patient-4711"), "{msg}");
        assert!(
            msg.contains("Value '<redacted>' at 'partitionKey'"),
            "{msg}"
        );

        let unterminated =
            r#"{"__type":"ValidationException","message":"Value 'patient-4711 and more"}"#;
        let msg = Error::from_response(ctx(), 400, None, unterminated.as_bytes()).to_string();
        assert!(!msg.contains("patient-4711"), "{msg}");

        let long = format!(r#"{{"__type":"X","message":"{}"}}"#, "a".repeat(5000));
        let msg = Error::from_response(ctx(), 400, None, long.as_bytes()).to_string();
        assert!(msg.len() < 1000);
    }

    #[test]
    fn non_aws_client_errors_are_other() {
        let e = Error::from_response(ctx(), 404, None, b"<html>nginx</html>");
        assert!(matches!(e, Error::Response { .. }));
        assert_eq!(e.kind(), ErrorKind::Other);
    }
}
