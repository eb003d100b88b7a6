//! Who Wardwatch is to AWS: a key pair named by a spec (`env:PREFIX`, or
//! `keyring:NAME`, which the runtime resolves), or the standard AWS chain —
//! environment, shared profiles including SSO, web identity, container and
//! instance roles — resolved by `aws-config`, as AWS users expect. The
//! signing itself is the AWS SDK's (SigV4).

use std::fmt;

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

    pub(crate) fn to_sdk(&self) -> aws_sdk_kinesis::config::Credentials {
        aws_sdk_kinesis::config::Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            self.session_token.clone(),
            None,
            "wardwatch",
        )
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

/// Where a client's credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// These keys (from the environment or the OS keyring).
    Keys(Credentials),
    /// The standard AWS chain (spec `aws`, or `aws:PROFILE` for a shared
    /// profile): refreshed as it expires (SSO, roles).
    AwsChain { profile: Option<String> },
}

impl From<Credentials> for CredentialSource {
    fn from(c: Credentials) -> Self {
        CredentialSource::Keys(c)
    }
}

impl CredentialSource {
    /// The AWS-chain spec `aws` or `aws:PROFILE`; `None` for other specs.
    pub fn from_chain_spec(spec: &str) -> Option<CredentialSource> {
        match spec {
            "aws" => Some(CredentialSource::AwsChain { profile: None }),
            _ => spec
                .strip_prefix("aws:")
                .filter(|p| !p.is_empty())
                .map(|p| CredentialSource::AwsChain {
                    profile: Some(p.to_owned()),
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_secrets() {
        let keys = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: Some("a-session-token".into()),
        };
        for shown in [
            format!("{keys:?}"),
            format!("{:?}", CredentialSource::from(keys.clone())),
            format!("{:?}", keys.to_sdk()),
        ] {
            assert!(
                shown.contains("AKIDEXAMPLE") || shown.contains("redacted"),
                "{shown}"
            );
            assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
            assert!(!shown.contains("a-session-token"), "{shown}");
        }
    }

    #[test]
    fn the_aws_chain_is_named_by_aws_or_a_profile() {
        assert_eq!(
            CredentialSource::from_chain_spec("aws"),
            Some(CredentialSource::AwsChain { profile: None })
        );
        assert_eq!(
            CredentialSource::from_chain_spec("aws:hospital-sso"),
            Some(CredentialSource::AwsChain {
                profile: Some("hospital-sso".into())
            })
        );
        assert_eq!(CredentialSource::from_chain_spec("aws:"), None);
        assert_eq!(CredentialSource::from_chain_spec("env:AWS"), None);
    }
}
