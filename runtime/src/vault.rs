//! The OS keyring as the place for Wardwatch's keys (issue 12): the store's
//! SQLCipher key and the audit trail's sealing keys, kept by the desktop's
//! Secret Service (the freedesktop.org Secret Service API over D-Bus:
//! gnome-keyring, KWallet, KeePassXC) instead of as files in the key folder.
//! The keyring encrypts them with the user's login password and unlocks them
//! at login, so a stolen disk holds them only encrypted.
//!
//! Core knows no keyring: [`install`] gives it a `KeyVault` that it asks
//! for a key only when the key is neither handed over nor in the key folder,
//! so a workstation that keeps its keys as files never touches D-Bus.
//! `wardwatchctl keys to-keyring` moves the key folder's keys into the
//! keyring; `keys to-folder` moves them back (for a key backup).
//!
//! Each key is one item: service `wardwatch`, account `KIND-KEYID` (`store-…`
//! or `audit-…`), the key as 64 hex digits.
//!
//! Cloud credentials (Kinesis sources, the patient-message stream, S3 lake
//! targets) can live there too, as `cloud-NAME` (JSON): a source or message
//! destination names them `keyring:NAME` where it would say `env:PREFIX`,
//! and an AWS profile fetches them with `credential_process = wardwatchctl
//! keys credential-process NAME` (docs/operations.md).

use std::path::{Path, PathBuf};

use wardwatch_core::store::cipher::{KeyKind, KeyVault};
use wardwatch_core::{Error, Result};

/// The Secret Service items' service attribute.
pub const SERVICE: &str = "wardwatch";

struct Keyring {
    /// The key folder, whose `in-keyring.json` lists the keys moved here.
    key_dir: PathBuf,
}

impl KeyVault for Keyring {
    fn get(&self, kind: KeyKind, id: &str) -> std::result::Result<Option<Vec<u8>>, String> {
        // A key moved here must come back from here: anything else stops
        // the caller. A key never moved is just not here (a lost audit
        // key is then replaced, as it would be without a keyring).
        let moved = moved_ids(&self.key_dir).contains(&id.to_owned());
        match entry(kind, id).and_then(|e| e.get_password()) {
            Ok(hex) => Ok(decode_hex(&hex)),
            Err(keyring::Error::NoEntry) if !moved => Ok(None),
            Err(keyring::Error::NoEntry) => Err(format!(
                "the {} key {id} was moved into the OS keyring and is not there: restore it (`wardwatchctl keys to-folder` on the machine that has it) or the key folder's backup",
                kind.as_str()
            )),
            Err(e) if !moved => {
                tracing::debug!(kind = kind.as_str(), key = id, error = %e, "the OS keyring could not be read");
                Ok(None)
            }
            Err(e) => Err(format!(
                "the {} key {id} is in the OS keyring, which cannot be read: {e} (unlock it, or log in to a desktop session)",
                kind.as_str()
            )),
        }
    }
}

/// Lets core find keys in the OS keyring (call once at start), noting the
/// key folder whose `in-keyring.json` says which keys were moved there.
pub fn install(key_dir: &Path) {
    wardwatch_core::store::cipher::set_vault(Box::new(Keyring {
        key_dir: key_dir.to_owned(),
    }));
}

/// The file in the key folder listing the ids of the keys moved into the
/// keyring (ids only, never keys).
const MOVED: &str = "in-keyring.json";

fn moved_ids(dir: &Path) -> Vec<String> {
    std::fs::read(dir.join(MOVED))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write_moved(dir: &Path, ids: &[String]) -> Result<()> {
    let path = dir.join(MOVED);
    if ids.is_empty() {
        return match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::DataDir { path, source }),
        };
    }
    write_owner_only(&path, &serde_json::to_vec(ids).unwrap_or_default())
}

fn entry(kind: KeyKind, id: &str) -> keyring::Result<keyring::Entry> {
    keyring::Entry::new(SERVICE, &format!("{}-{id}", kind.as_str()))
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    wardwatch_core::text::from_hex(hex.trim())
}

fn keyring_error(what: &str, e: keyring::Error) -> Error {
    Error::InvalidInput {
        what: "OS keyring",
        reason: format!(
            "{what}: {e} (is a Secret Service running and unlocked in this session? gnome-keyring, KWallet or KeePassXC)"
        ),
    }
}

/// A key file of the key folder: its kind, id and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFile {
    pub kind: KeyKind,
    pub id: String,
    pub path: PathBuf,
}

/// The key files in `dir` (audit `KEYID.key`, store `store-KEYID.key`).
pub fn key_files(dir: &Path) -> Result<Vec<KeyFile>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::DataDir {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".key") else {
            continue;
        };
        let (kind, id) = match stem.strip_prefix("store-") {
            Some(id) => (KeyKind::Store, id),
            None => (KeyKind::Audit, stem),
        };
        if id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            out.push(KeyFile {
                kind,
                id: id.to_owned(),
                path: e.path(),
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Moves every key file of `dir` into the keyring: each is written, read
/// back and compared, and only then is the file overwritten and removed.
/// Returns the keys moved.
pub fn move_to_keyring(dir: &Path) -> Result<Vec<KeyFile>> {
    let files = key_files(dir)?;
    let mut moved = moved_ids(dir);
    for f in &files {
        let bytes = std::fs::read(&f.path).map_err(|source| Error::ReadFile {
            path: f.path.clone(),
            source,
        })?;
        let e = entry(f.kind, &f.id).map_err(|e| keyring_error("opening an item", e))?;
        e.set_password(&wardwatch_core::text::hex(&bytes))
            .map_err(|e| keyring_error("storing a key", e))?;
        let back = e
            .get_password()
            .map_err(|e| keyring_error("reading a key back", e))?;
        if decode_hex(&back).as_deref() != Some(bytes.as_slice()) {
            return Err(keyring_error(
                "a key read back differs from the one stored",
                keyring::Error::Invalid("secret".into(), "changed".into()),
            ));
        }
        // Listed before the file goes: a key is always in one place the
        // next open looks.
        if !moved.contains(&f.id) {
            moved.push(f.id.clone());
            write_moved(dir, &moved)?;
        }
        wipe(&f.path)?;
    }
    Ok(files)
}

/// Moves the keyring's keys named by `ids` back into key files in `dir`
/// (owner-only), then removes them from the keyring. Returns the keys moved.
pub fn move_to_folder(dir: &Path, ids: &[(KeyKind, String)]) -> Result<Vec<KeyFile>> {
    let mut moved = Vec::new();
    for (kind, id) in ids {
        let e = entry(*kind, id).map_err(|e| keyring_error("opening an item", e))?;
        let hex = match e.get_password() {
            Ok(h) => h,
            Err(keyring::Error::NoEntry) => continue,
            Err(e) => return Err(keyring_error("reading a key", e)),
        };
        let bytes = decode_hex(&hex).ok_or_else(|| Error::InvalidInput {
            what: "OS keyring",
            reason: format!("the item for key {id} does not hold a key"),
        })?;
        let name = match kind {
            KeyKind::Store => format!("store-{id}.key"),
            KeyKind::Audit => format!("{id}.key"),
        };
        let path = dir.join(&name);
        write_owner_only(&path, &bytes)?;
        let mut listed = moved_ids(dir);
        listed.retain(|m| m != id);
        write_moved(dir, &listed)?;
        e.delete_credential()
            .map_err(|e| keyring_error("removing a key", e))?;
        moved.push(KeyFile {
            kind: *kind,
            id: id.clone(),
            path,
        });
    }
    Ok(moved)
}

/// Whether the keyring holds the key `id` of `kind`.
pub fn holds(kind: KeyKind, id: &str) -> Result<bool> {
    match entry(kind, id).and_then(|e| e.get_password()) {
        Ok(_) => Ok(true),
        Err(keyring::Error::NoEntry) => Ok(false),
        Err(e) => Err(keyring_error("reading a key", e)),
    }
}

fn write_owner_only(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::DataDir {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(io)?;
    }
    wardwatch_core::store::write_private_file(path, bytes).map_err(io)
}

/// Overwrites a key file with zeros, syncs it, and removes it.
fn wipe(path: &Path) -> Result<()> {
    use std::io::Write;
    let io = |source| Error::DataDir {
        path: path.to_owned(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len() as usize;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io)?;
    f.write_all(&vec![0u8; len]).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::remove_file(path).map_err(io)
}

/// Cloud credentials as the keyring keeps them.
#[derive(serde::Serialize, serde::Deserialize)]
struct CloudSecret {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    session_token: Option<String>,
}

fn cloud_entry(name: &str) -> std::result::Result<keyring::Entry, String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(format!("`{name}` must be letters, digits, `.`, `_` or `-`"));
    }
    keyring::Entry::new(SERVICE, &format!("cloud-{name}")).map_err(|e| e.to_string())
}

/// Keeps `credentials` in the keyring as `name`.
pub fn put_cloud(name: &str, credentials: &wardwatch_cloud::Credentials) -> Result<()> {
    let e = cloud_entry(name).map_err(|reason| Error::InvalidInput {
        what: "credentials name",
        reason,
    })?;
    let json = serde_json::to_string(&CloudSecret {
        access_key_id: credentials.access_key_id.clone(),
        secret_access_key: credentials.secret_access_key.clone(),
        session_token: credentials.session_token.clone(),
    })
    .unwrap_or_default();
    e.set_password(&json)
        .map_err(|e| keyring_error("storing credentials", e))
}

/// Removes the credentials `name` from the keyring; whether there were any.
pub fn remove_cloud(name: &str) -> Result<bool> {
    let e = cloud_entry(name).map_err(|reason| Error::InvalidInput {
        what: "credentials name",
        reason,
    })?;
    match e.delete_credential() {
        Ok(()) => Ok(true),
        Err(keyring::Error::NoEntry) => Ok(false),
        Err(e) => Err(keyring_error("removing credentials", e)),
    }
}

/// The cloud credentials `spec` names: `keyring:NAME` (kept in the OS
/// keyring), `env:PREFIX` (PREFIX_ACCESS_KEY_ID, PREFIX_SECRET_ACCESS_KEY,
/// PREFIX_SESSION_TOKEN), or `aws` / `aws:PROFILE` (the standard AWS chain:
/// environment, shared profiles including SSO, web identity, container and
/// instance roles). The error says what is missing, never a value.
pub fn credentials(spec: &str) -> std::result::Result<wardwatch_cloud::CredentialSource, String> {
    if let Some(chain) = wardwatch_cloud::CredentialSource::from_chain_spec(spec) {
        return Ok(chain);
    }
    match spec.strip_prefix("keyring:") {
        Some(name) => keyring_credentials(name).map(Into::into),
        None => wardwatch_cloud::Credentials::from_env_spec(spec).map(Into::into),
    }
}

/// The key pair kept in the OS keyring as `name`.
pub fn keyring_credentials(
    name: &str,
) -> std::result::Result<wardwatch_cloud::Credentials, String> {
    let e = cloud_entry(name)?;
    let json = match e.get_password() {
        Ok(j) => j,
        Err(keyring::Error::NoEntry) => {
            return Err(format!(
                "the OS keyring holds no credentials `{name}`: store them with `wardwatchctl keys cloud-set {name}`"
            ));
        }
        Err(e) => {
            return Err(format!(
                "the OS keyring could not be read for credentials `{name}`: {e} (is a Secret Service running and unlocked in this session?)"
            ));
        }
    };
    let secret: CloudSecret = serde_json::from_str(&json)
        .map_err(|_| format!("the keyring's credentials `{name}` are damaged: store them again"))?;
    Ok(wardwatch_cloud::Credentials {
        access_key_id: secret.access_key_id,
        secret_access_key: secret.secret_access_key,
        session_token: secret.session_token,
    })
}
