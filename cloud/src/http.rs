//! The HTTP client of the AWS SDK's clients on a hospital network: through
//! the proxy the environment names (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY`, either case, honouring `NO_PROXY`), trusting the system's
//! roots and a PEM file of the hospital's own CA certificates.

use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// Whether the environment names an HTTP(S) proxy.
pub fn proxy_in_environment() -> bool {
    ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"]
        .iter()
        .flat_map(|k| [k.to_string(), k.to_ascii_lowercase()])
        .any(|k| std::env::var(&k).is_ok_and(|v| !v.trim().is_empty()))
}

/// The SDK HTTP client for a proxy in the environment and the CA
/// certificates in the PEM file `ca`; `None` when neither applies (the
/// SDK's default client then serves). The error names the file and what
/// is wrong with it.
pub fn sdk_http_client(ca: Option<&str>) -> Result<Option<SharedHttpClient>, String> {
    use aws_smithy_http_client::{Connector, proxy::ProxyConfig, tls};
    use aws_smithy_runtime_api::client::http::{SharedHttpConnector, http_client_fn};
    let proxy = proxy_in_environment();
    if ca.is_none() && !proxy {
        return Ok(None);
    }
    let mut trust = tls::TrustStore::default();
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).map_err(|e| format!("CA bundle {ca}: {e}"))?;
        trust = trust.with_pem_certificate(pem);
    }
    let context = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| format!("CA bundle: {e}"))?;
    // One connector (and so one connection pool) for the client's life.
    let connector: std::sync::OnceLock<SharedHttpConnector> = std::sync::OnceLock::new();
    Ok(Some(http_client_fn(move |settings, components| {
        connector
            .get_or_init(|| {
                let mut b = Connector::builder()
                    .connector_settings(settings.clone())
                    .proxy_config(if proxy {
                        ProxyConfig::from_env()
                    } else {
                        ProxyConfig::disabled()
                    });
                if let Some(sleep) = components.sleep_impl() {
                    b = b.sleep_impl(sleep);
                }
                SharedHttpConnector::new(
                    b.tls_provider(tls::Provider::Rustls(
                        tls::rustls_provider::CryptoMode::AwsLc,
                    ))
                    .tls_context(context.clone())
                    .build(),
                )
            })
            .clone()
    })))
}
