//! Sync failures: which target, what kind of fault (what to do about it) and
//! a message for the person who fixes it. Never credentials, never patient
//! data: a message names keys, buckets and settings only.

use serde::Serialize;

/// What kind of failure, so that the engine knows whether to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Network, timeouts, 5xx, a full disk: retry with back-off.
    Transient,
    /// Credentials refused, access denied, clock skew: an admin must act;
    /// retried slowly.
    Credentials,
    /// The target's configuration is wrong (no such bucket, bad URL).
    Config,
    /// The target refused this request (4xx other than the above).
    Refused,
    /// The key holds other bytes in the target: never overwritten.
    Conflict,
    /// No such object.
    Missing,
    /// The object is in an archive class and must be restored first.
    Archived,
    /// The local store failed.
    Store,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("lake target `{target}`: {message}")]
pub struct Error {
    pub target: String,
    pub fault: Fault,
    pub message: String,
}

impl Error {
    pub fn new(target: &str, fault: Fault, message: impl Into<String>) -> Error {
        Error {
            target: target.to_owned(),
            fault,
            message: message.into(),
        }
    }

    pub fn config(target: &str, message: impl Into<String>) -> Error {
        Error::new(target, Fault::Config, message)
    }

    pub fn store(target: &str, e: &wardwatch_core::error::Error) -> Error {
        Error::new(target, Fault::Store, e.to_string())
    }
}
