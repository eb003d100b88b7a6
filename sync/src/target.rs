//! Where lake objects go: a folder on the local filesystem (the embedded
//! default: a single workstation or the demo needs no server) or any
//! S3-compatible object store (AWS S3, SeaweedFS, MinIO, Ceph).
//!
//! Both write an object only if its key is free (S3: `If-None-Match: *`;
//! the filesystem: a hard link, which fails on an existing name), so a retry
//! after a lost answer or a crash never writes twice: it finds the object,
//! compares checksums, and counts it synced when they match. An object
//! counts as synced only when the target acknowledged it and its checksum
//! was verified.

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumMode, ServerSideEncryption, StorageClass};
use base64::Engine;
use wardwatch_core::store::lake::{LakeTarget, md5_hex, sha256_hex};

use crate::error::{Error, Fault};

/// What a put found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// Written now and verified.
    Written,
    /// Already there with the same bytes (an earlier attempt's answer was
    /// lost, or a crash came between the write and its record).
    AlreadyThere,
    /// Written now in parts, continuing an upload an earlier run began:
    /// that many parts were already at the target, checked and kept.
    Resumed { parts_kept: usize },
}

/// Objects larger than this go up in parts: a lost connection then costs
/// a part, and an upload a restart interrupted goes on where it stopped.
pub const MULTIPART_BYTES: usize = 16 << 20;
/// The size of each part but the last (S3: at least 5 MiB).
pub const PART_BYTES: usize = 8 << 20;

/// An object store, opened from a configured [`LakeTarget`].
/// (There is one per engine: the S3 variant's size does not matter.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Target {
    Local(LocalTarget),
    S3(S3Target),
}

impl Target {
    /// Opens `t`; S3 credentials are `keys` when given (a secret store),
    /// else the AWS chain's (environment, `t.profile` or the default
    /// profile, web identity, container or instance role); never the store's.
    pub async fn open(t: &LakeTarget, keys: Option<Credentials>) -> Result<Target, Error> {
        if let Some(path) = t.url.strip_prefix("file://") {
            return Ok(Target::Local(LocalTarget::new(&t.name, Path::new(path))?));
        }
        if let Some(rest) = t.url.strip_prefix("s3://") {
            return Ok(Target::S3(S3Target::open(t, rest, keys).await?));
        }
        Err(Error::config(
            &t.name,
            format!(
                "URL `{}` is neither file:///absolute/dir nor s3://bucket[/prefix]",
                t.url
            ),
        ))
    }

    pub fn name(&self) -> &str {
        match self {
            Target::Local(t) => &t.name,
            Target::S3(t) => &t.name,
        }
    }

    /// Writes `data` under `key` unless the key is taken; verifies it.
    pub async fn put(
        &self,
        key: &str,
        data: Vec<u8>,
        sha256: &str,
        md5: &str,
    ) -> Result<Put, Error> {
        match self {
            Target::Local(t) => t.put(key, data, sha256).await,
            Target::S3(t) => t.put(key, data, sha256, md5).await,
        }
    }

    /// The S3 target, if this is one (lifecycle and restore are S3's).
    pub fn as_s3(&self) -> Option<&S3Target> {
        match self {
            Target::S3(t) => Some(t),
            Target::Local(_) => None,
        }
    }

    /// The same store at another location (`s3://bucket[/prefix]` with the
    /// same client, credentials and encryption, or `file:///dir`): where an
    /// Iceberg catalog put a table. No storage class: a table's files stay
    /// readable at once.
    pub fn rebased(&self, uri: &str) -> Result<Target, Error> {
        match (self, uri.strip_prefix("s3://"), uri.strip_prefix("file://")) {
            (Target::S3(t), Some(rest), _) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                Ok(Target::S3(S3Target {
                    bucket: bucket.to_owned(),
                    prefix: prefix.trim_matches('/').to_owned(),
                    storage_class: None,
                    ..t.clone()
                }))
            }
            (Target::Local(t), _, Some(path)) => {
                Ok(Target::Local(LocalTarget::new(&t.name, Path::new(path))?))
            }
            _ => Err(Error::config(
                self.name(),
                format!(
                    "location `{uri}` is not in the kind of store the target is ({})",
                    self.base_uri()
                ),
            )),
        }
    }

    /// The same target uploading objects over `threshold` bytes in parts
    /// of `part` bytes (tests use small ones; S3 wants parts of ≥ 5 MiB).
    #[doc(hidden)]
    pub fn with_parts(self, threshold: usize, part: usize) -> Target {
        match self {
            Target::S3(t) => Target::S3(S3Target {
                multipart_bytes: threshold,
                part_bytes: part.max(1),
                ..t
            }),
            other => other,
        }
    }

    /// The bytes of `key`.
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, Error> {
        match self {
            Target::Local(t) => t.get(key).await,
            Target::S3(t) => t.get(key).await,
        }
    }

    /// The URI that keys are relative to: `file:///dir` or
    /// `s3://bucket[/prefix]` (the curated tables' locations start with it).
    pub fn base_uri(&self) -> String {
        match self {
            Target::Local(t) => format!("file://{}", t.root.display()),
            Target::S3(t) if t.prefix.is_empty() => format!("s3://{}", t.bucket),
            Target::S3(t) => format!("s3://{}/{}", t.bucket, t.prefix),
        }
    }

    /// The size of `key`, or `None` when there is no such object.
    pub async fn size(&self, key: &str) -> Result<Option<u64>, Error> {
        match self {
            Target::Local(t) => {
                let path = t.path_of(key)?;
                match tokio::fs::metadata(&path).await {
                    Ok(m) => Ok(Some(m.len())),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::new(
                        &t.name,
                        io_fault(&e),
                        format!("reading {}: {e}", path.display()),
                    )),
                }
            }
            Target::S3(t) => {
                let full = t.full_key(key);
                match t
                    .client
                    .head_object()
                    .bucket(&t.bucket)
                    .key(&full)
                    .send()
                    .await
                {
                    Ok(head) => Ok(Some(head.content_length().unwrap_or(0).max(0) as u64)),
                    Err(e) => match t.classify(&full, e) {
                        e if e.fault == Fault::Missing => Ok(None),
                        e => Err(e),
                    },
                }
            }
        }
    }

    /// Removes `key` (no error when it is not there). Only the curated
    /// tables' orphans are ever removed: the files of a commit that a crash
    /// interrupted, which no table references.
    pub async fn delete(&self, key: &str) -> Result<(), Error> {
        match self {
            Target::Local(t) => {
                let path = t.path_of(key)?;
                match tokio::fs::remove_file(&path).await {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(Error::new(
                        &t.name,
                        io_fault(&e),
                        format!("removing {}: {e}", path.display()),
                    )),
                }
            }
            Target::S3(t) => {
                let full = t.full_key(key);
                t.client
                    .delete_object()
                    .bucket(&t.bucket)
                    .key(&full)
                    .send()
                    .await
                    .map_err(|e| t.classify(&full, e))?;
                Ok(())
            }
        }
    }

    /// Removes what killed writes of objects under `prefix` (a folder; ""
    /// for all) left in a folder target's parts folder — the parts of keys
    /// no later put will ask for again, such as an interrupted curated
    /// commit's uniquely named files. Only while no put under `prefix` is
    /// in flight. S3 keeps no parts (a put is whole or absent); the number
    /// removed.
    pub async fn remove_parts(&self, prefix: &str) -> Result<usize, Error> {
        match self {
            Target::Local(t) => {
                let parts = t.root.join(PARTS_DIR);
                let prefix = prefix.to_owned();
                tokio::task::spawn_blocking(move || remove_parts_under(&parts, &prefix))
                    .await
                    .map_err(|e| Error::new(&t.name, Fault::Transient, format!("parts task: {e}")))
            }
            Target::S3(_) => Ok(0),
        }
    }

    /// The keys under `prefix` (a folder: `a/b` lists `a/b/…`), sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, Error> {
        let prefix = prefix.trim_end_matches('/');
        let mut keys = Vec::new();
        match self {
            Target::Local(t) => {
                let root = t.root.clone();
                // "" is the whole target.
                let dir = if prefix.is_empty() {
                    root.clone()
                } else {
                    t.path_of(prefix)?
                };
                let name = t.name.clone();
                keys = tokio::task::spawn_blocking(move || {
                    // Parts in flight are not objects.
                    let parts = root.join(PARTS_DIR);
                    let mut found = Vec::new();
                    let mut stack = vec![dir];
                    while let Some(d) = stack.pop() {
                        let entries = match std::fs::read_dir(&d) {
                            Ok(e) => e,
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                            Err(e) => {
                                return Err(Error::new(
                                    &name,
                                    io_fault(&e),
                                    format!("listing {}: {e}", d.display()),
                                ));
                            }
                        };
                        for entry in entries.flatten() {
                            let path = entry.path();
                            if path.is_dir() {
                                if path != parts {
                                    stack.push(path);
                                }
                            } else if let Ok(rel) = path.strip_prefix(&root) {
                                found.push(rel.to_string_lossy().into_owned());
                            }
                        }
                    }
                    Ok(found)
                })
                .await
                .map_err(|e| {
                    Error::new(&t.name, Fault::Transient, format!("lister task: {e}"))
                })??;
            }
            Target::S3(t) => {
                let full = format!("{}/", t.full_key(prefix));
                let strip = if t.prefix.is_empty() {
                    String::new()
                } else {
                    format!("{}/", t.prefix)
                };
                let mut pages = t
                    .client
                    .list_objects_v2()
                    .bucket(&t.bucket)
                    .prefix(&full)
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| t.classify(&full, e))?;
                    for o in page.contents() {
                        if let Some(k) = o.key() {
                            keys.push(k.strip_prefix(&strip).unwrap_or(k).to_owned());
                        }
                    }
                }
            }
        }
        keys.sort();
        Ok(keys)
    }
}

/// A folder holding the objects under their keys.
#[derive(Debug, Clone)]
pub struct LocalTarget {
    name: String,
    root: PathBuf,
}

impl LocalTarget {
    pub fn new(name: &str, root: &Path) -> Result<LocalTarget, Error> {
        if !root.is_absolute() {
            return Err(Error::config(
                name,
                format!("folder {} is not an absolute path", root.display()),
            ));
        }
        Ok(LocalTarget {
            name: name.to_owned(),
            root: root.to_owned(),
        })
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, Error> {
        // Keys are made by the store (zone/dataset/date=…/…); refuse anything
        // that could leave the folder all the same.
        if key
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
            || key.starts_with('/')
        {
            return Err(Error::new(
                &self.name,
                Fault::Refused,
                format!("object key `{key}` is not a relative path"),
            ));
        }
        Ok(self.root.join(key))
    }

    async fn put(&self, key: &str, data: Vec<u8>, sha256: &str) -> Result<Put, Error> {
        let path = self.path_of(key)?;
        let name = self.name.clone();
        let sha256 = sha256.to_owned();
        let key = key.to_owned();
        let parts = self.root.join(PARTS_DIR);
        tokio::task::spawn_blocking(move || local_put(&name, &parts, &path, &key, &data, &sha256))
            .await
            .map_err(|e| Error::new(&self.name, Fault::Transient, format!("writer task: {e}")))?
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, Error> {
        let path = self.path_of(key)?;
        tokio::fs::read(&path).await.map_err(|e| {
            Error::new(
                &self.name,
                Fault::Transient,
                format!("reading {}: {e}", path.display()),
            )
        })
    }
}

fn io_fault(e: &std::io::Error) -> Fault {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => Fault::Credentials,
        std::io::ErrorKind::StorageFull => Fault::Transient,
        _ => Fault::Transient,
    }
}

/// A part being written waits in this folder at the target's root, as
/// `KEY.tmp-PID` (the key's `/` as `+`), until it is linked under its key.
/// Finding what killed attempts at a key left then lists the few parts in
/// flight, not the key's folder: a busy source's folder of a day holds
/// tens of thousands of objects, and listing it for every object made a
/// day's writes quadratic in them (a listing of 50,000 names ~20 ms).
/// Hidden, as readers of Hive-style partitions skip it, and one for the
/// whole target, so that the key folders hold only objects.
const PARTS_DIR: &str = ".parts";

/// A key as one file name in `PARTS_DIR`: `/` as `+` (and `%`, `+` escaped,
/// so that two keys never share a name); a name too long for a file system
/// keeps its first 150 bytes and a digest of the whole key, so that the
/// parts under a folder still start with the folder's name.
fn part_name(key: &str) -> String {
    let flat = key
        .replace('%', "%25")
        .replace('+', "%2B")
        .replace('/', "+");
    if flat.len() <= 200 {
        return flat;
    }
    let mut cut = 150;
    while !flat.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}~{}", &flat[..cut], &sha256_hex(key.as_bytes())[..16])
}

/// Removes the parts of killed attempts at any key under `prefix` (a
/// folder; "" for all) from `parts`; the number removed.
fn remove_parts_under(parts: &Path, prefix: &str) -> usize {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return remove_parts_starting(parts, "");
    }
    remove_parts_starting(parts, &format!("{}+", part_name(prefix)))
}

/// Removes what killed attempts at `key` left in `parts`: `KEY.tmp-PID`
/// files (written, never linked, or linked and not yet removed).
fn remove_stale_parts(parts: &Path, key: &str) {
    remove_parts_starting(parts, &format!("{}.tmp-", part_name(key)));
}

/// Removes the files of `parts` whose names start with `start`; how many.
fn remove_parts_starting(parts: &Path, start: &str) -> usize {
    let mut removed = 0;
    for entry in std::fs::read_dir(parts).into_iter().flatten().flatten() {
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(start))
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

fn local_put(
    name: &str,
    parts: &Path,
    path: &Path,
    key: &str,
    data: &[u8],
    sha256: &str,
) -> Result<Put, Error> {
    use std::io::Write;
    let fail = |what: &str, e: std::io::Error| {
        Error::new(
            name,
            io_fault(&e),
            format!("{what} {}: {e}", path.display()),
        )
    };
    let verify = |written: bool| -> Result<Put, Error> {
        let back = std::fs::read(path).map_err(|e| fail("reading back", e))?;
        if sha256_hex(&back) == sha256 {
            Ok(if written {
                Put::Written
            } else {
                Put::AlreadyThere
            })
        } else if written {
            Err(Error::new(
                name,
                Fault::Transient,
                format!("{key} reads back with another checksum"),
            ))
        } else {
            Err(Error::new(
                name,
                Fault::Conflict,
                format!("{key} exists in the target with other content; it is left as it is"),
            ))
        }
    };
    let dir = path
        .parent()
        .ok_or_else(|| Error::new(name, Fault::Refused, format!("key `{key}` has no folder")))?;
    remove_stale_parts(parts, key);
    if path.exists() {
        return verify(false);
    }
    // Objects hold patient data: folders 0700, files 0600, whatever the umask.
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| fail("creating the folder of", e))?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parts)
            .map_err(|e| fail("creating the parts folder for", e))?;
    }
    let tmp = parts.join(format!("{}.tmp-{}", part_name(key), std::process::id()));
    let mut f = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| fail("creating", e))?
    };
    f.write_all(data).map_err(|e| fail("writing", e))?;
    f.sync_all().map_err(|e| fail("flushing", e))?;
    drop(f);
    // A hard link fails when the name exists: never overwrite an object.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            verify(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => verify(false),
        Err(e) => Err(fail("linking", e)),
    }
}

/// An S3-compatible bucket (and key prefix).
#[derive(Debug, Clone)]
pub struct S3Target {
    name: String,
    bucket: String,
    prefix: String,
    client: aws_sdk_s3::Client,
    storage_class: Option<StorageClass>,
    sse: Option<ServerSideEncryption>,
    sse_kms_key: Option<String>,
    profile: Option<String>,
    /// What the client signs with, and where: for other AWS-style
    /// services of the same target (an Iceberg REST catalog).
    credentials: Option<aws_sdk_s3::config::SharedCredentialsProvider>,
    region: String,
    /// The Iceberg REST catalog of the curated tables, if the target names one.
    catalog: Option<CatalogSpec>,
    /// Objects over this many bytes are uploaded in parts of `part_bytes`.
    multipart_bytes: usize,
    part_bytes: usize,
}

/// An Iceberg REST catalog as a target names it.
#[derive(Debug, Clone)]
pub struct CatalogSpec {
    pub url: String,
    pub namespace: Option<String>,
    pub signing: Option<String>,
    pub ca_bundle: Option<String>,
}

impl S3Target {
    async fn open(
        t: &LakeTarget,
        rest: &str,
        keys: Option<Credentials>,
    ) -> Result<S3Target, Error> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::config(
                &t.name,
                "the URL names no bucket (s3://bucket[/prefix])",
            ));
        }
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .build(),
            )
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2));
        if let Some(profile) = &t.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(keys) = keys {
            loader = loader.credentials_provider(keys);
        }
        if let Some(client) = wardwatch_cloud::http::sdk_http_client(t.ca_bundle.as_deref())
            .map_err(|e| Error::config(&t.name, e))?
        {
            loader = loader.http_client(client);
        }
        if let Some(region) = &t.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let shared = loader.load().await;
        let mut conf = aws_sdk_s3::config::Builder::from(&shared);
        if shared.region().is_none() {
            conf = conf.region(aws_config::Region::new("us-east-1"));
        }
        if let Some(endpoint) = &t.endpoint {
            // S3-compatible servers address buckets by path.
            conf = conf.endpoint_url(endpoint).force_path_style(true);
        }
        let conf = conf.build();
        let region = conf
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into());
        let client = aws_sdk_s3::Client::from_conf(conf);
        Ok(S3Target {
            credentials: shared.credentials_provider(),
            region,
            multipart_bytes: MULTIPART_BYTES,
            part_bytes: PART_BYTES,
            catalog: t.iceberg_catalog.as_ref().map(|url| CatalogSpec {
                url: url.clone(),
                namespace: t.iceberg_namespace.clone(),
                signing: t.iceberg_signing.clone(),
                ca_bundle: t.ca_bundle.clone(),
            }),
            name: t.name.clone(),
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            client,
            storage_class: t.storage_class.as_deref().map(StorageClass::from),
            sse: t.sse.as_deref().map(ServerSideEncryption::from),
            sse_kms_key: t.sse_kms_key.clone(),
            profile: t.profile.clone(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key prefix inside the bucket ("" for none).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(crate) fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// The Iceberg REST catalog the target names.
    pub fn catalog(&self) -> Option<&CatalogSpec> {
        self.catalog.as_ref()
    }

    /// The credentials the client signs with (the AWS chain's or the
    /// given ones) and its region.
    pub(crate) fn signing(&self) -> (Option<aws_sdk_s3::config::SharedCredentialsProvider>, &str) {
        (self.credentials.clone(), &self.region)
    }

    pub(crate) fn full_key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    async fn put(&self, key: &str, data: Vec<u8>, sha256: &str, md5: &str) -> Result<Put, Error> {
        if data.len() > self.multipart_bytes {
            return self.put_in_parts(key, &data, sha256, md5).await;
        }
        let full = self.full_key(key);
        let sha_b64 = b64_of_hex(sha256);
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&full)
            .if_none_match("*")
            .content_type("application/zstd")
            .checksum_sha256(&sha_b64)
            .body(ByteStream::from(data));
        if let Some(class) = &self.storage_class {
            req = req.storage_class(class.clone());
        }
        if let Some(sse) = &self.sse {
            req = req.server_side_encryption(sse.clone());
        }
        if let Some(kms) = &self.sse_kms_key {
            req = req.ssekms_key_id(kms);
        }
        match req.send().await {
            Ok(out) => {
                // The server checked the SHA-256 we sent against what it
                // received; check its answer too (checksum, else the ETag
                // of a single-part upload, which is the MD5).
                let checksum_ok = out.checksum_sha256().map(|c| c == sha_b64);
                let etag_ok = out
                    .e_tag()
                    .map(|e| e.trim_matches('"').eq_ignore_ascii_case(md5));
                match (checksum_ok, etag_ok) {
                    (Some(true), _) | (None, Some(true)) => Ok(Put::Written),
                    (Some(false), _) | (None, Some(false)) => Err(Error::new(
                        &self.name,
                        Fault::Transient,
                        format!(
                            "{full}: the target acknowledged other bytes than were sent (checksum or ETag differs)"
                        ),
                    )),
                    (None, None) => {
                        self.verify_existing(&full, &sha_b64, md5, Put::Written)
                            .await
                    }
                }
            }
            Err(e) if status_of(&e) == Some(412) => {
                self.verify_existing(&full, &sha_b64, md5, Put::AlreadyThere)
                    .await
            }
            Err(e) => Err(self.classify(&full, e)),
        }
    }

    /// [`S3Target::put`] in parts. An upload of this key still in progress
    /// at the target (a restart interrupted it) is taken up where it
    /// stopped when every part it holds has our bytes (size and SHA-256, or
    /// MD5), and aborted otherwise. The parts carry SHA-256 checksums the
    /// server checks; the completion is create-only (`If-None-Match: *`)
    /// and its ETag (the MD5 of the parts' MD5s, `-N`) is checked, else the
    /// object is read back.
    async fn put_in_parts(
        &self,
        key: &str,
        data: &[u8],
        sha256: &str,
        md5: &str,
    ) -> Result<Put, Error> {
        use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
        let full = self.full_key(key);
        let sha_b64 = b64_of_hex(sha256);
        // Already there (an earlier run completed it): compare, never rewrite.
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
        {
            Ok(_) => {
                return self
                    .verify_existing(&full, &sha_b64, md5, Put::AlreadyThere)
                    .await;
            }
            Err(e) if status_of(&e) == Some(404) => {}
            Err(e) => return Err(self.classify(&full, e)),
        }
        let parts: Vec<&[u8]> = data.chunks(self.part_bytes).collect();
        let part_sha: Vec<String> = parts.iter().map(|p| b64_of_hex(&sha256_hex(p))).collect();
        let part_md5: Vec<String> = parts.iter().map(|p| md5_hex(p)).collect();
        let (upload, mut done) = match self.unfinished(&full, &parts, &part_sha, &part_md5).await? {
            Some(found) => found,
            None => {
                let mut req = self
                    .client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&full)
                    .content_type("application/zstd")
                    .checksum_algorithm(ChecksumAlgorithm::Sha256);
                if let Some(class) = &self.storage_class {
                    req = req.storage_class(class.clone());
                }
                if let Some(sse) = &self.sse {
                    req = req.server_side_encryption(sse.clone());
                }
                if let Some(kms) = &self.sse_kms_key {
                    req = req.ssekms_key_id(kms);
                }
                let out = req.send().await.map_err(|e| self.classify(&full, e))?;
                let id = out.upload_id().map(str::to_owned).ok_or_else(|| {
                    Error::new(
                        &self.name,
                        Fault::Transient,
                        format!("{full}: the target began an upload without naming it"),
                    )
                })?;
                (id, std::collections::BTreeMap::new())
            }
        };
        let kept = done.len();
        for (i, part) in parts.iter().enumerate() {
            let number = i as i32 + 1;
            if done.contains_key(&number) {
                continue;
            }
            let out = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(&full)
                .upload_id(&upload)
                .part_number(number)
                .checksum_sha256(&part_sha[i])
                .body(ByteStream::from(part.to_vec()))
                .send()
                .await
                .map_err(|e| self.classify(&full, e))?;
            let etag = out.e_tag().unwrap_or_default().to_owned();
            if let Some(c) = out.checksum_sha256()
                && c != part_sha[i]
            {
                return Err(Error::new(
                    &self.name,
                    Fault::Transient,
                    format!(
                        "{full}: part {number} was acknowledged with other bytes than were sent"
                    ),
                ));
            }
            done.insert(number, etag);
        }
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(
                done.iter()
                    .map(|(n, etag)| {
                        CompletedPart::builder()
                            .part_number(*n)
                            .e_tag(etag)
                            .checksum_sha256(&part_sha[*n as usize - 1])
                            .build()
                    })
                    .collect(),
            ))
            .build();
        let out = match self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&full)
            .upload_id(&upload)
            .if_none_match("*")
            .multipart_upload(completed)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if status_of(&e) == Some(412) => {
                // Another engine completed the same object first.
                let _ = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&full)
                    .upload_id(&upload)
                    .send()
                    .await;
                return self
                    .verify_existing(&full, &sha_b64, md5, Put::AlreadyThere)
                    .await;
            }
            Err(e) => return Err(self.classify(&full, e)),
        };
        // The ETag of a multipart object: MD5 of the parts' MD5s, then -N.
        let mut joined = Vec::with_capacity(16 * parts.len());
        for m in &part_md5 {
            joined.extend(wardwatch_core::text::from_hex(m).unwrap_or_default());
        }
        let expected = format!("{}-{}", md5_hex(&joined), parts.len());
        let written = if kept > 0 {
            Put::Resumed { parts_kept: kept }
        } else {
            Put::Written
        };
        match out
            .e_tag()
            .map(|e| e.trim_matches('"').to_ascii_lowercase())
        {
            Some(e) if e == expected => Ok(written),
            // Servers that name multipart objects otherwise: read it back.
            _ => {
                let back = self.get(key).await?;
                if back.len() == data.len() && b64_of_hex(&sha256_hex(&back)) == sha_b64 {
                    Ok(written)
                } else {
                    Err(Error::new(
                        &self.name,
                        Fault::Transient,
                        format!("{full}: the completed upload holds other bytes than were sent"),
                    ))
                }
            }
        }
    }

    /// An upload of `full` in progress at the target whose parts all have
    /// our bytes: its id and the parts it holds (number → ETag). Uploads
    /// of this key holding other bytes are aborted.
    async fn unfinished(
        &self,
        full: &str,
        parts: &[&[u8]],
        part_sha: &[String],
        part_md5: &[String],
    ) -> Result<Option<(String, std::collections::BTreeMap<i32, String>)>, Error> {
        let listed = self
            .client
            .list_multipart_uploads()
            .bucket(&self.bucket)
            .prefix(full)
            .send()
            .await
            .map_err(|e| self.classify(full, e))?;
        let mut found = None;
        for u in listed.uploads() {
            let (Some(k), Some(id)) = (u.key(), u.upload_id()) else {
                continue;
            };
            if k != full {
                continue;
            }
            if found.is_none() {
                let held = self
                    .client
                    .list_parts()
                    .bucket(&self.bucket)
                    .key(full)
                    .upload_id(id)
                    .send()
                    .await
                    .map_err(|e| self.classify(full, e))?;
                let mut ours = std::collections::BTreeMap::new();
                let all_ours = held.parts().iter().all(|p| {
                    let n = p.part_number().unwrap_or(0);
                    let Some(i) = usize::try_from(n - 1).ok().filter(|i| *i < parts.len()) else {
                        return false;
                    };
                    let size_ok = p.size() == Some(parts[i].len() as i64);
                    let bytes_ok = match (p.checksum_sha256(), p.e_tag()) {
                        (Some(c), _) => c == part_sha[i],
                        (None, Some(e)) => e.trim_matches('"').eq_ignore_ascii_case(&part_md5[i]),
                        (None, None) => false,
                    };
                    if size_ok && bytes_ok {
                        ours.insert(n, p.e_tag().unwrap_or_default().to_owned());
                    }
                    size_ok && bytes_ok
                });
                if all_ours {
                    found = Some((id.to_owned(), ours));
                    continue;
                }
            }
            // Another upload of this key (other bytes, or a second one).
            tracing::warn!(
                key = full,
                "aborting an unfinished upload that is not ours to resume"
            );
            self.client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(full)
                .upload_id(id)
                .send()
                .await
                .map_err(|e| self.classify(full, e))?;
        }
        Ok(found)
    }

    /// Compares the object at `full` with what was meant to be there.
    async fn verify_existing(
        &self,
        full: &str,
        sha_b64: &str,
        md5: &str,
        found: Put,
    ) -> Result<Put, Error> {
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(full)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|e| self.classify(full, e))?;
        let same = match (head.checksum_sha256(), head.e_tag()) {
            (Some(c), _) if !c.contains('-') => c == sha_b64,
            (_, Some(e)) if !e.contains('-') => e.trim_matches('"').eq_ignore_ascii_case(md5),
            _ => {
                // Neither says: read it back.
                let back = self
                    .get(
                        full.strip_prefix(&format!("{}/", self.prefix))
                            .unwrap_or(full),
                    )
                    .await?;
                b64_of_hex(&sha256_hex(&back)) == sha_b64
            }
        };
        if same {
            Ok(found)
        } else {
            Err(Error::new(
                &self.name,
                Fault::Conflict,
                format!(
                    "{full} exists in bucket {} with other content; it is left as it is",
                    self.bucket
                ),
            ))
        }
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, Error> {
        let full = self.full_key(key);
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
            .map_err(|e| self.classify(&full, e))?;
        let body = out.body.collect().await.map_err(|e| {
            Error::new(&self.name, Fault::Transient, format!("reading {full}: {e}"))
        })?;
        Ok(body.into_bytes().to_vec())
    }

    /// A clear error from an SDK failure: what went wrong and which setting
    /// fixes it. Never the credentials themselves.
    pub(crate) fn classify<E, R>(&self, key: &str, e: SdkError<E, R>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + HasStatus,
    {
        let status = status_of(&e);
        let code = e.code().unwrap_or("").to_owned();
        let profile = self
            .profile
            .as_deref()
            .map_or("the default profile".to_owned(), |p| {
                format!("profile `{p}`")
            });
        let (fault, what) = match (&e, code.as_str(), status) {
            (SdkError::TimeoutError(_), _, _) => (
                Fault::Transient,
                "the target did not answer in time".to_owned(),
            ),
            (SdkError::DispatchFailure(_), _, _)
                if aws_smithy_error_text(&e).contains("certificate") =>
            {
                (
                    Fault::Config,
                    format!(
                        "the endpoint's TLS certificate is not trusted ({}): give the CA that signed it with `--ca-bundle`",
                        aws_smithy_error_text(&e)
                    ),
                )
            }
            (SdkError::DispatchFailure(d), _, _) => (
                Fault::Transient,
                if d.is_io() || d.is_timeout() {
                    "cannot reach the target's endpoint (check `--endpoint`, the network and any proxy)".to_owned()
                } else {
                    format!("the request could not be sent: {}", aws_smithy_error_text(&e))
                },
            ),
            (SdkError::ConstructionFailure(_), _, _) => (
                Fault::Credentials,
                format!(
                    "no usable AWS credentials ({}): set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile (`--profile`), or a role",
                    aws_smithy_error_text(&e)
                ),
            ),
            (_, "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "InvalidToken" | "ExpiredToken", _)
            | (_, _, Some(401)) => (
                Fault::Credentials,
                format!("the target refused the credentials ({code}): check the AWS credentials of {profile}"),
            ),
            (_, "RequestTimeTooSkewed", _) => (
                Fault::Credentials,
                "the target says this machine's clock is wrong (RequestTimeTooSkewed): fix the system clock".to_owned(),
            ),
            (_, "NoSuchBucket", _) => (
                Fault::Config,
                format!("bucket `{}` does not exist: create it or fix the target's URL", self.bucket),
            ),
            // 403 too, so before access denied.
            (_, "InvalidObjectState", _) => (
                Fault::Archived,
                format!("{key} is archived: restore it first (`wardwatchctl archive restore`)"),
            ),
            (_, "AccessDenied", _) | (_, _, Some(403)) => (
                Fault::Credentials,
                format!("access denied to bucket `{}` ({code}): the credentials of {profile} lack s3:PutObject/GetObject", self.bucket),
            ),
            (_, "NoSuchKey", _) | (_, _, Some(404)) => (Fault::Missing, format!("{key} is not in the target")),
            (_, _, Some(s)) if s >= 500 => (
                Fault::Transient,
                format!("the target failed ({s} {code}); retrying later"),
            ),
            (_, _, Some(s)) => (
                Fault::Refused,
                format!("the target refused {key} ({s} {code}): {}", e.message().unwrap_or("")),
            ),
            _ => (Fault::Transient, aws_smithy_error_text(&e)),
        };
        Error::new(&self.name, fault, what)
    }
}

fn aws_smithy_error_text<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: &SdkError<E, R>,
) -> String {
    wardwatch_cloud::error::chain(e)
}

/// The HTTP status of a response, where there was one.
pub trait HasStatus {
    fn status(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}

fn status_of<E, R: HasStatus>(e: &SdkError<E, R>) -> Option<u16> {
    e.raw_response().map(HasStatus::status)
}

fn b64_of_hex(hex: &str) -> String {
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_core::store::lake::md5_hex;

    #[test]
    fn md5_and_sha_helpers_agree_with_known_values() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            b64_of_hex(&sha256_hex(b"abc")),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
    }

    /// A folder target's put clears what killed attempts at the same object
    /// left (whichever process made them) and leaves other objects' parts
    /// and the objects beside it alone; its folder holds only objects.
    #[test]
    #[allow(clippy::unwrap_used)]
    fn a_put_removes_what_killed_attempts_at_its_object_left() {
        let root = tempfile::tempdir().unwrap();
        let dir = root
            .path()
            .join("raw/observations/date=2026-12-06/source=gw");
        let parts = root.path().join(PARTS_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&parts).unwrap();
        let key = "raw/observations/date=2026-12-06/source=gw/part-000000000005.ndjson.zst";
        let flat = part_name(key);
        let killed = [
            parts.join(format!("{flat}.tmp-4000001")),
            parts.join(format!("{flat}.tmp-{}", std::process::id())),
        ];
        let other = parts.join(format!(
            "{}.tmp-4000002",
            part_name("raw/observations/date=2026-12-06/source=gw/part-000000000009.ndjson.zst")
        ));
        let beside = dir.join("part-000000000001.ndjson.zst");
        for f in killed.iter().chain([&other, &beside]) {
            std::fs::write(f, b"half an object").unwrap();
        }
        let path = root.path().join(key);
        let data = b"a whole object".to_vec();
        let put = local_put("lake", &parts, &path, key, &data, &sha256_hex(&data)).unwrap();
        assert_eq!(put, Put::Written);
        assert_eq!(std::fs::read(&path).unwrap(), data);
        for f in &killed {
            assert!(!f.exists(), "{} left", f.display());
        }
        let names = |d: &Path| {
            let mut v: Vec<String> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(
            names(&parts),
            [other.file_name().unwrap().to_string_lossy()]
        );
        assert_eq!(
            names(&dir),
            [
                "part-000000000001.ndjson.zst",
                "part-000000000005.ndjson.zst"
            ]
        );
    }

    /// Two keys never share a part's name, a long key still gets one a file
    /// system takes, and the parts under a folder are found by its name
    /// (those of its sibling folders, whose names it starts, left alone).
    #[test]
    #[allow(clippy::unwrap_used)]
    fn parts_are_named_one_to_one_and_removed_by_folder() {
        assert_ne!(part_name("a/b+c"), part_name("a+b/c"));
        assert_ne!(part_name("a/b%2Bc"), part_name("a/b+c"));
        let long = format!("curated/scores/data/{}.parquet", "x".repeat(400));
        let name = part_name(&long);
        assert!(name.len() <= 200, "{}", name.len());
        assert!(name.starts_with("curated+scores+data+x"));
        assert_ne!(name, part_name(&format!("{long}.1")));

        let root = tempfile::tempdir().unwrap();
        let parts = root.path().join(PARTS_DIR);
        std::fs::create_dir_all(&parts).unwrap();
        let under = [
            format!(
                "{}.tmp-4000001",
                part_name("curated/scores/data/u1.parquet")
            ),
            format!("{name}.tmp-4000001"),
        ];
        let beside = [
            format!(
                "{}.tmp-4000001",
                part_name("curated/scores2/data/u2.parquet")
            ),
            format!(
                "{}.tmp-4000001",
                part_name("raw/observations/part-1.ndjson.zst")
            ),
        ];
        for n in under.iter().chain(&beside) {
            std::fs::write(parts.join(n), b"half").unwrap();
        }
        let target = Target::Local(LocalTarget::new("lake", root.path()).unwrap());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        std::fs::create_dir_all(root.path().join("curated/scores/data")).unwrap();
        std::fs::write(root.path().join("curated/scores/data/u0.parquet"), b"whole").unwrap();
        assert_eq!(
            rt.block_on(target.list("")).unwrap(),
            ["curated/scores/data/u0.parquet"],
            "parts are not objects"
        );
        assert_eq!(
            rt.block_on(target.remove_parts("curated/scores")).unwrap(),
            2
        );
        let mut left: Vec<String> = std::fs::read_dir(&parts)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut want = beside.to_vec();
        want.sort();
        assert_eq!(left, want);
        assert_eq!(rt.block_on(target.remove_parts("")).unwrap(), 2);
        assert_eq!(std::fs::read_dir(&parts).unwrap().count(), 0);
    }
}
