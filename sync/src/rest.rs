//! An Iceberg REST catalog (the Apache Iceberg REST catalog OpenAPI
//! specification, `open-api/rest-catalog-open-api.yaml`): SeaweedFS,
//! Polaris, Lakekeeper, Nessie, AWS S3 Tables and Glue's Iceberg endpoint
//! serve it. Where a lake target names one, the curated tables are created
//! and committed through it: the catalog owns their locations and holds
//! their current metadata, so engines the hospital runs (Spark, Trino,
//! Athena, DuckDB) find them by name and may commit beside Wardwatch (cloud
//! compaction) without breaking it (docs/data-lake.md).
//!
//! Requests are signed with SigV4 (for the service the target names, with
//! the target's credentials) or sent unsigned. The same CA bundle and proxy
//! apply as for the target's objects. A commit is a list of requirements
//! and updates (`TableRequirement`, `TableUpdate`); the catalog applies it
//! atomically or answers 409 when the table moved.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_smithy_runtime_api::client::identity::Identity;
use iceberg::spec::{Schema, TableMetadata, UnboundPartitionSpec};
use iceberg::{TableRequirement, TableUpdate};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{Error, Fault};
use crate::target::Target;

/// A table as the catalog holds it.
#[derive(Debug, Clone)]
pub struct RemoteTable {
    pub metadata_location: String,
    pub metadata: TableMetadata,
}

#[derive(Deserialize)]
struct LoadTableResult {
    #[serde(rename = "metadata-location")]
    metadata_location: Option<String>,
    metadata: TableMetadata,
}

struct Signer {
    credentials: SharedCredentialsProvider,
    region: String,
    service: String,
}

/// A client of one catalog, for one namespace.
pub struct RestCatalog {
    target: String,
    /// `URL/v1/` plus the catalog's prefix, if it gives one.
    base: String,
    namespace: String,
    http: reqwest::Client,
    signer: Option<Signer>,
}

impl std::fmt::Debug for RestCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestCatalog")
            .field("target", &self.target)
            .field("base", &self.base)
            .field("namespace", &self.namespace)
            .field("signed", &self.signer.is_some())
            .finish()
    }
}

/// The setting an admin fixes when the catalog refuses or cannot be
/// reached.
const SETTING: &str = "the target's --iceberg-catalog";

impl RestCatalog {
    /// The catalog `target` names (None when it names none), with the
    /// target's credentials and region for signing; reads the catalog's
    /// configuration (its path prefix) and makes sure the target's
    /// namespace (else `namespace`) exists.
    pub async fn open(target: &Target, namespace: &str) -> Result<Option<RestCatalog>, Error> {
        let Some(s3) = target.as_s3() else {
            return Ok(None);
        };
        let Some(spec) = s3.catalog() else {
            return Ok(None);
        };
        let name = target.name();
        let namespace = spec.namespace.as_deref().unwrap_or(namespace);
        let signer = match &spec.signing {
            None => None,
            Some(service) => {
                let (credentials, region) = s3.signing();
                let credentials = credentials.ok_or_else(|| {
                    Error::new(
                        name,
                        Fault::Credentials,
                        "no AWS credentials to sign the Iceberg catalog's requests with",
                    )
                })?;
                Some(Signer {
                    credentials,
                    region: region.to_owned(),
                    service: service.clone(),
                })
            }
        };
        let mut http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60));
        if let Some(ca) = &spec.ca_bundle {
            let pem = std::fs::read(ca)
                .map_err(|e| Error::config(name, format!("CA bundle {ca}: {e}")))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| Error::config(name, format!("CA bundle {ca}: {e}")))?
            {
                http = http.add_root_certificate(cert);
            }
        }
        let http = http
            .build()
            .map_err(|e| Error::config(name, format!("the Iceberg catalog's client: {e}")))?;
        // `URL?warehouse=W` names the warehouse the catalog serves (S3
        // Tables: the table bucket's ARN; Glue: the account's catalog id).
        let (root, query) = spec.url.split_once('?').unwrap_or((&spec.url, ""));
        let warehouse = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("warehouse="))
            .filter(|w| !w.is_empty());
        let mut catalog = RestCatalog {
            target: name.to_owned(),
            base: format!("{}/v1/", root.trim_end_matches('/')),
            namespace: namespace.to_owned(),
            http,
            signer,
        };
        let config_path = match warehouse {
            Some(w) => format!("config?warehouse={}", query_escape(w)),
            None => "config".to_owned(),
        };
        let (_, config) = catalog
            .call(Method::GET, &config_path, None, &[200])
            .await?;
        let prefix = config["overrides"]["prefix"]
            .as_str()
            .or(config["defaults"]["prefix"].as_str());
        if let Some(p) = prefix.filter(|p| !p.is_empty()) {
            catalog.base = format!("{}{}/", catalog.base, p.trim_matches('/'));
        }
        let body = json!({ "namespace": [namespace], "properties": {} });
        catalog
            .call(Method::POST, "namespaces", Some(body), &[200, 409])
            .await?;
        Ok(Some(catalog))
    }

    fn table_path(&self, name: &str) -> String {
        format!("namespaces/{}/tables/{name}", self.namespace)
    }

    /// The table `name`, or `None` when the catalog has no such table.
    pub async fn load(&self, name: &str) -> Result<Option<RemoteTable>, Error> {
        let (status, body) = self
            .call(Method::GET, &self.table_path(name), None, &[200, 404])
            .await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        self.remote(name, body).map(Some)
    }

    /// Creates the table `name`; the catalog chooses its location.
    pub async fn create(
        &self,
        name: &str,
        schema: &Schema,
        spec: &UnboundPartitionSpec,
        properties: &HashMap<String, String>,
    ) -> Result<RemoteTable, Error> {
        let body = json!({
            "name": name,
            "schema": schema,
            "partition-spec": spec,
            "properties": properties,
            "stage-create": false,
        });
        let path = format!("namespaces/{}/tables", self.namespace);
        let (_, body) = self.call(Method::POST, &path, Some(body), &[200]).await?;
        self.remote(name, body)
    }

    /// Commits `updates` to `name` if the table meets `requirements`.
    /// `Ok(None)`: the table moved (409) and nothing was committed. An
    /// error after the request was sent (5xx, a timeout) leaves it unknown
    /// whether the commit happened: the caller finds out from the table.
    pub async fn commit(
        &self,
        name: &str,
        requirements: &[TableRequirement],
        updates: &[TableUpdate],
    ) -> Result<Option<RemoteTable>, Error> {
        let body = json!({
            "identifier": { "namespace": [self.namespace], "name": name },
            "requirements": requirements,
            "updates": updates,
        });
        let (status, body) = self
            .call(
                Method::POST,
                &self.table_path(name),
                Some(body),
                &[200, 409],
            )
            .await?;
        if status == StatusCode::CONFLICT {
            return Ok(None);
        }
        self.remote(name, body).map(Some)
    }

    fn remote(&self, name: &str, body: Value) -> Result<RemoteTable, Error> {
        let r: LoadTableResult = serde_json::from_value(body).map_err(|e| {
            Error::new(
                &self.target,
                Fault::Refused,
                format!(
                    "the Iceberg catalog's answer for table {name} is not Iceberg metadata: {e}"
                ),
            )
        })?;
        let metadata_location = r.metadata_location.ok_or_else(|| {
            Error::new(
                &self.target,
                Fault::Refused,
                format!("the Iceberg catalog gave no metadata location for table {name}"),
            )
        })?;
        Ok(RemoteTable {
            metadata_location,
            metadata: r.metadata,
        })
    }

    /// One request; an answer outside `ok` is an error naming what to fix.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        ok: &[u16],
    ) -> Result<(StatusCode, Value), Error> {
        let url = format!("{}{path}", self.base);
        let bytes = match &body {
            Some(b) => serde_json::to_vec(b).map_err(|e| {
                Error::new(
                    &self.target,
                    Fault::Refused,
                    format!("encoding a request: {e}"),
                )
            })?,
            None => Vec::new(),
        };
        let mut headers: Vec<(String, String)> = Vec::new();
        if body.is_some() {
            headers.push(("content-type".into(), "application/json".into()));
        }
        if let Some(s) = &self.signer {
            headers.extend(
                self.sign(s, method.as_str(), &url, &headers, &bytes)
                    .await?,
            );
        }
        let mut req = self.http.request(method.clone(), &url);
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        if body.is_some() {
            req = req.body(bytes);
        }
        let what = format!("{method} {path}");
        let resp = req.send().await.map_err(|e| {
            Error::new(
                &self.target,
                Fault::Transient,
                format!(
                    "the Iceberg catalog could not be reached ({what}): {}; check {SETTING}",
                    wardwatch_cloud::error::chain(&e)
                ),
            )
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !ok.contains(&status.as_u16()) {
            // The catalog's own message (an ErrorModel), never our body.
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| text.chars().take(200).collect());
            let fault = match status.as_u16() {
                401 | 403 => Fault::Credentials,
                404 | 400 | 406 | 422 => Fault::Config,
                s if s >= 500 => Fault::Transient,
                _ => Fault::Refused,
            };
            let hint = match fault {
                Fault::Credentials => {
                    "; check the target's credentials and --iceberg-signing".to_owned()
                }
                Fault::Config => format!("; check {SETTING}"),
                _ => String::new(),
            };
            return Err(Error::new(
                &self.target,
                fault,
                format!(
                    "the Iceberg catalog answered {} to {what}: {message}{hint}",
                    status.as_u16()
                ),
            ));
        }
        let value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|e| {
                Error::new(
                    &self.target,
                    Fault::Refused,
                    format!("the Iceberg catalog's answer to {what} is not JSON: {e}"),
                )
            })?
        };
        Ok((status, value))
    }

    /// The SigV4 headers of a request (with `x-amz-content-sha256`, which
    /// S3-style services require).
    async fn sign(
        &self,
        s: &Signer,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Vec<(String, String)>, Error> {
        let credentials = s.credentials.provide_credentials().await.map_err(|e| {
            Error::new(
                &self.target,
                Fault::Credentials,
                format!("no credentials to sign the Iceberg catalog's requests: {e}"),
            )
        })?;
        let identity: Identity = credentials.into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&s.region)
            .name(&s.service)
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| Error::config(&self.target, format!("signing: {e}")))?
            .into();
        let signable = SignableRequest::new(
            method,
            url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| Error::config(&self.target, format!("signing: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| Error::config(&self.target, format!("signing: {e}")))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }
}

/// `value` percent-encoded for a query string (RFC 3986: all but the
/// unreserved characters). A value given already encoded is decoded first.
fn query_escape(value: &str) -> String {
    let mut raw = Vec::with_capacity(value.len());
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                raw.push(((hex(h).unwrap_or(0) << 4) | hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                raw.push(b);
                i += 1;
            }
        }
    }
    raw.iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warehouse_arn_is_escaped_once() {
        let arn = "arn:aws:s3tables:us-east-1:123456789012:bucket/ward-lake";
        let once = query_escape(arn);
        assert_eq!(
            once,
            "arn%3Aaws%3As3tables%3Aus-east-1%3A123456789012%3Abucket%2Fward-lake"
        );
        assert_eq!(query_escape(&once), once, "not escaped twice");
    }
}
