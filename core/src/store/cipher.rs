//! Encryption at rest (issue 12, SECURITY.md): the store is a SQLCipher 4
//! database. SQLCipher encrypts every page of the database and of its WAL
//! with AES-256 in CBC mode and authenticates each page with an HMAC
//! (SQLCipher 4 design, zetetic.net/sqlcipher/design): a stolen copy of the
//! data directory shows no names, MRNs or values, and an edited page is
//! refused, not read. The HMAC is HMAC-SHA-256 ([`PageHmac`]); stores
//! written before keep SQLCipher 4's default, HMAC-SHA-512.
//!
//! The key is 32 random bytes given to SQLCipher raw (`PRAGMA key =
//! "x'…'"`), so opening costs no key derivation: every CLI call opens the
//! store. Core takes a key as bytes ([`StoreKey`]) and knows no keyring:
//!
//! - by default the key is a file beside the audit keys, outside the data
//!   directory: `KEY_DIR/store-KEYID.key`, owner-only;
//! - a caller that holds the key elsewhere (a systemd credential, the OS
//!   keyring) hands it over once with [`provide`], and every open in the
//!   process finds it by its id.
//!
//! The data directory names its key, never holds it: `wardwatch.cipher.json`
//! lists the ids of the keys to try, newest first, and the key folder where
//! the key files were written. A key id is the first 16 hex digits of
//! SHA-256 over a label and the key: it names the key without revealing it.
//! Every step that changes keys (encrypting a clear store, rotating the key)
//! writes that list before it changes the database, so a crash at any point
//! leaves a store that opens with one of the listed keys (or in clear, for an
//! interrupted encryption).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result, SqlContext};

/// The file in the data directory that names the store's keys.
pub const CIPHER_FILE: &str = "wardwatch.cipher.json";

/// A store's 256-bit SQLCipher key. Never printed; wiped when dropped.
#[derive(Clone)]
pub struct StoreKey {
    bytes: [u8; 32],
}

impl StoreKey {
    /// A new random key from the operating system's generator.
    pub fn generate() -> Result<StoreKey> {
        Ok(StoreKey {
            bytes: crate::auth::random_bytes("store key")?,
        })
    }

    /// A key as a file or a credential holds it: 32 raw bytes, or 64 hex
    /// digits (surrounding whitespace ignored).
    pub fn from_bytes(raw: &[u8]) -> Result<StoreKey> {
        if let Ok(bytes) = <[u8; 32]>::try_from(raw) {
            return Ok(StoreKey { bytes });
        }
        let text = std::str::from_utf8(raw).unwrap_or("").trim();
        if let Some(bytes) = crate::text::from_hex(text).and_then(|b| <[u8; 32]>::try_from(b).ok())
        {
            return Ok(StoreKey { bytes });
        }
        Err(Error::InvalidInput {
            what: "store key",
            reason: format!(
                "{} bytes: a store key is 32 raw bytes or 64 hex digits",
                raw.len()
            ),
        })
    }

    /// The key's public name.
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"wardwatch store key id\0");
        h.update(self.bytes);
        super::audit::hex(&h.finalize()[..8])
    }

    /// The key as 64 hex digits, for a credential file.
    pub fn to_hex(&self) -> String {
        super::audit::hex(&self.bytes)
    }

    /// The key as SQLCipher's raw-key string literal: x'HEX' in quotes.
    fn literal(&self) -> String {
        format!("'x''{}'''", self.to_hex())
    }

    /// Keys `conn` for a database whose pages carry `hmac`: must be the
    /// first statement on a new connection.
    fn apply(&self, conn: &Connection, hmac: PageHmac) -> Result<()> {
        PageHmac::make_default(conn)?;
        // A wrong key is an expected outcome here (a restore tries every
        // key it has), reported as our own error: SQLCipher's own log line
        // on standard error would only alarm. Hex digits only: nothing can
        // break out of the literal.
        conn.execute_batch(&format!(
            "PRAGMA cipher_log_level = NONE; PRAGMA key = {}; PRAGMA cipher_hmac_algorithm = {};",
            self.literal(),
            hmac.pragma()
        ))
        .ctx("giving the store its key")
    }
}

/// How SQLCipher authenticates each page: HMAC-SHA-256 for every database
/// this build writes, HMAC-SHA-512 (SQLCipher 4's default) for stores
/// written before it, which keep it (a key rotation keeps a store's page
/// format; a backup restored writes the new one).
///
/// The HMAC runs over every page written and read, the WAL's included: at
/// 10,000 monitored patients SHA-512 was 6.1 % of `serve`'s CPU (`perf`,
/// issue 16), the AES encryption 2.6 %. On processors with the SHA
/// extensions (Intel since Ice Lake and Goldmont, AMD since Zen) OpenSSL's
/// SHA-256 is the faster: `openssl speed` on 4 KiB pages, 1,364 MB/s
/// against 598 MB/s for SHA-512 (this project's 2-core test machine). Both
/// are approved MACs (NIST SP 800-107, FIPS 198-1); the tag is 32 bytes
/// rather than 64, which leaves 32 more bytes of each 4 KiB page for data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageHmac {
    Sha256,
    Sha512,
}

impl PageHmac {
    /// The one new databases get.
    pub const NEW: PageHmac = PageHmac::Sha256;

    fn pragma(self) -> &'static str {
        match self {
            PageHmac::Sha256 => "HMAC_SHA256",
            PageHmac::Sha512 => "HMAC_SHA512",
        }
    }

    /// How the key list names a store with these pages.
    fn cipher_name(self) -> &'static str {
        match self {
            PageHmac::Sha256 => CIPHER_NAME,
            PageHmac::Sha512 => CIPHER_NAME_SHA512,
        }
    }

    /// Both, `self` first: the order a key is tried in.
    fn and_other(self) -> [PageHmac; 2] {
        match self {
            PageHmac::Sha256 => [PageHmac::Sha256, PageHmac::Sha512],
            PageHmac::Sha512 => [PageHmac::Sha512, PageHmac::Sha256],
        }
    }

    /// The HMAC of `conn`'s keyed main database.
    fn of(conn: &Connection) -> Result<PageHmac> {
        let name: String = conn
            .query_row("PRAGMA cipher_hmac_algorithm", [], |r| r.get(0))
            .ctx("reading the store's page format")?;
        Ok(if name == PageHmac::Sha512.pragma() {
            PageHmac::Sha512
        } else {
            PageHmac::Sha256
        })
    }

    /// Makes [`PageHmac::NEW`] SQLCipher's default in this process (once):
    /// a database SQLCipher creates without being told, as `VACUUM INTO`
    /// creates a backup, gets it too. Every store and copy this module
    /// opens still names its own.
    fn make_default(conn: &Connection) -> Result<()> {
        static DONE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
        if DONE.get().is_none() {
            conn.execute_batch(&format!(
                "PRAGMA cipher_default_hmac_algorithm = {};",
                PageHmac::NEW.pragma()
            ))
            .ctx("setting the store's page format")?;
            let _ = DONE.set(());
        }
        Ok(())
    }
}

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreKey({})", self.id())
    }
}

impl Drop for StoreKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.bytes);
    }
}

/// The kinds of key a [`KeyVault`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A store's SQLCipher key (`store-KEYID.key` in the key folder).
    Store,
    /// An audit trail's sealing key (`KEYID.key`).
    Audit,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Store => "store",
            KeyKind::Audit => "audit",
        }
    }
}

/// Somewhere keys are kept outside the key folder (the OS keyring, which
/// the binaries install with [`set_vault`]; core knows no keyring). Asked
/// only for a key that is neither handed over nor in the key folder.
pub trait KeyVault: Send + Sync {
    /// The key of `kind` named `id`: `Ok(None)` when the vault does not
    /// have it, `Err` (the reason) when it should have it and cannot give
    /// it (a locked or absent keyring holding a moved key): the caller then
    /// stops with that error rather than treating the key as lost.
    fn get(&self, kind: KeyKind, id: &str) -> std::result::Result<Option<Vec<u8>>, String>;
}

static VAULT: std::sync::OnceLock<Box<dyn KeyVault>> = std::sync::OnceLock::new();

/// Installs the process's key vault (once; later calls are ignored).
pub fn set_vault(vault: Box<dyn KeyVault>) {
    let _ = VAULT.set(vault);
}

/// The key `id` of `kind` from the installed vault.
pub(crate) fn from_vault(kind: KeyKind, id: &str) -> Result<Option<Vec<u8>>> {
    match VAULT.get() {
        Some(v) => v.get(kind, id).map_err(|reason| Error::InvalidInput {
            what: "OS keyring",
            reason,
        }),
        None => Ok(None),
    }
}

/// Keys handed over by the caller, found by id at every open.
static PROVIDED: Mutex<Vec<StoreKey>> = Mutex::new(Vec::new());

/// Makes `key` available to every store opened by this process (a key from
/// a systemd credential or the OS keyring). Returns its id.
pub fn provide(key: StoreKey) -> String {
    let id = key.id();
    let mut keys = PROVIDED.lock().unwrap_or_else(|p| p.into_inner());
    if !keys.iter().any(|k| k.id() == id) {
        keys.push(key);
    }
    id
}

fn provided(id: &str) -> Option<StoreKey> {
    let keys = PROVIDED.lock().unwrap_or_else(|p| p.into_inner());
    keys.iter().find(|k| k.id() == id).cloned()
}

/// Passphrases handed over by the caller (an admin's, read from a file),
/// from which keys listed with a salt are derived.
static PASSPHRASES: Mutex<Vec<zeroize::Zeroizing<String>>> = Mutex::new(Vec::new());

/// Makes `passphrase` available to every store opened by this process.
pub fn provide_passphrase(passphrase: &str) {
    let mut all = PASSPHRASES.lock().unwrap_or_else(|p| p.into_inner());
    if !all.iter().any(|p| p.as_str() == passphrase) {
        all.push(zeroize::Zeroizing::new(passphrase.to_owned()));
    }
}

/// A store key derived from a passphrase: Argon2id (RFC 9106) with the
/// password hashes' parameters (m = 19 MiB, t = 2, p = 1) and a 16-byte
/// random salt kept in the key list. The derivation costs a login's time
/// at each open, once per process; a raw key in the key folder, the
/// keyring or a credential costs none.
pub fn key_from_passphrase(passphrase: &str, salt: &[u8]) -> Result<StoreKey> {
    if passphrase.chars().count() < 12 {
        return Err(Error::InvalidInput {
            what: "store passphrase",
            reason: "at least 12 characters".into(),
        });
    }
    let mut bytes = [0u8; 32];
    crate::auth::argon2()
        .hash_password_into(passphrase.as_bytes(), salt, &mut bytes)
        .map_err(|e| Error::InvalidInput {
            what: "store passphrase",
            reason: e.to_string(),
        })?;
    Ok(StoreKey { bytes })
}

/// The key `id` derived from a handed-over passphrase with `salt` (hex).
fn from_passphrases(id: &str, salt: &str) -> Option<StoreKey> {
    let salt = crate::text::from_hex(salt)?;
    let all = PASSPHRASES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    for p in all {
        if let Ok(k) = key_from_passphrase(&p, &salt)
            && k.id() == id
        {
            // Derived once per process.
            provide(k.clone());
            return Some(k);
        }
    }
    None
}

/// The key a rotation or an encryption puts in: given by the caller, or
/// derived from a passphrase (its salt goes into the key list).
#[derive(Debug, Clone)]
pub struct NewKey {
    key: StoreKey,
    salt: Option<String>,
}

impl NewKey {
    /// A key the caller keeps (a systemd credential): it must also be
    /// [`provide`]d to later opens.
    pub fn given(key: StoreKey) -> NewKey {
        NewKey { key, salt: None }
    }

    /// A key derived from an admin's passphrase with a new random salt;
    /// later opens need the passphrase ([`provide_passphrase`]).
    pub fn from_passphrase(passphrase: &str) -> Result<NewKey> {
        let salt: [u8; 16] = crate::auth::random_bytes("store key")?;
        Ok(NewKey {
            key: key_from_passphrase(passphrase, &salt)?,
            salt: Some(super::audit::hex(&salt)),
        })
    }

    pub fn id(&self) -> String {
        self.key.id()
    }
}

/// What `wardwatch.cipher.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// What the database is encrypted with.
    pub cipher: String,
    /// The ids of the keys to try, in order: one, or during a key
    /// rotation the old key and then the new.
    pub key_ids: Vec<String>,
    /// The folder the key files were written to, when they were.
    pub key_dir: Option<PathBuf>,
    /// Key id → the salt (hex) of a key derived from an admin's passphrase
    /// (see [`NewKey::from_passphrase`]); such a key has no file.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub salts: std::collections::BTreeMap<String, String>,
}

const CIPHER_NAME: &str = "sqlcipher 4 (AES-256-CBC, HMAC-SHA-256 per page), raw 256-bit key";
/// How key lists written before HMAC-SHA-256 name their stores.
const CIPHER_NAME_SHA512: &str =
    "sqlcipher 4 (AES-256-CBC, HMAC-SHA-512 per page), raw 256-bit key";

impl Marker {
    fn new(key_ids: Vec<String>, key_dir: Option<&Path>, hmac: PageHmac) -> Marker {
        Marker {
            cipher: hmac.cipher_name().into(),
            key_ids,
            key_dir: key_dir.map(Path::to_owned),
            salts: Default::default(),
        }
    }

    /// The page HMAC the list says its store has: SHA-256 only when it
    /// names it (lists written before it named SHA-512). Opening tries the
    /// other one too, so a list that says wrong costs a try, not the store.
    pub fn hmac(&self) -> PageHmac {
        if self.cipher == CIPHER_NAME {
            PageHmac::Sha256
        } else {
            PageHmac::Sha512
        }
    }

    /// With the salts of its listed keys, from `known`.
    fn with_salts(mut self, known: &std::collections::BTreeMap<String, String>) -> Marker {
        self.salts = known
            .iter()
            .filter(|(id, _)| self.key_ids.contains(id))
            .map(|(id, salt)| (id.clone(), salt.clone()))
            .collect();
        self
    }
}

/// The data directory's key list, if the store is encrypted.
pub fn marker(data_dir: &Path) -> Result<Option<Marker>> {
    let path = data_dir.join(CIPHER_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::InvalidFile {
                path: path.clone(),
                format: "Wardwatch key list",
                reason: format!("{e}: the store's key ids are in this file; restore it from a backup of the data directory"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::DataDir { path, source }),
    }
}

fn write_marker(data_dir: &Path, m: &Marker) -> Result<()> {
    let path = data_dir.join(CIPHER_FILE);
    let json = serde_json::to_vec_pretty(m).unwrap_or_default();
    super::write_private_file(&path, &json).map_err(|source| Error::DataDir { path, source })?;
    sync_dir(data_dir);
    Ok(())
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn key_file(key_dir: &Path, id: &str) -> PathBuf {
    key_dir.join(format!("store-{id}.key"))
}

/// Writes `key` to `KEY_DIR/store-KEYID.key` (owner-only, written whole
/// before it is named).
pub fn save_key(key_dir: &Path, key: &StoreKey) -> Result<PathBuf> {
    super::create_private_dir(key_dir)?;
    let id = key.id();
    let path = key_file(key_dir, &id);
    super::write_private_file(&path, &key.bytes).map_err(|source| Error::DataDir {
        path: path.clone(),
        source,
    })?;
    sync_dir(key_dir);
    Ok(path)
}

/// The key named `id`: handed over by the caller, in the key folder, in
/// the vault, or derived from a handed-over passphrase with `salt`.
fn find(id: &str, key_dir: Option<&Path>, salt: Option<&str>) -> Result<Option<StoreKey>> {
    if let Some(k) = provided(id) {
        return Ok(Some(k));
    }
    if !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    if let Some(salt) = salt {
        return Ok(from_passphrases(id, salt));
    }
    let from_vault = || match from_vault(KeyKind::Store, id)? {
        Some(bytes) => StoreKey::from_bytes(&bytes).map(|k| (k.id() == id).then_some(k)),
        None => Ok(None),
    };
    let Some(dir) = key_dir else {
        return from_vault();
    };
    let path = key_file(dir, id);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let key = StoreKey::from_bytes(&bytes)?;
            if key.id() != id {
                return Err(Error::InvalidInput {
                    what: "store key",
                    reason: format!(
                        "{} does not hold the key its name says: the key file is damaged",
                        path.display()
                    ),
                });
            }
            Ok(Some(key))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => from_vault(),
        Err(source) => Err(Error::DataDir { path, source }),
    }
}

/// Whether `conn` reads its database: SQLite parses the header and the
/// schema (a wrong key or a damaged file fails here).
fn readable(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|_| ())
}

/// Opens the database at `path` in `data_dir` with the key its key list
/// names (in clear when there is no list). A new (absent or empty) database
/// gets the newest listed key.
pub(super) fn open(data_dir: &Path, path: &Path) -> Result<(Connection, Option<String>)> {
    let Some(m) = marker(data_dir)? else {
        let conn = Connection::open(path).ctx("opening the database")?;
        return Ok((conn, None));
    };
    let fresh = std::fs::metadata(path)
        .map(|md| md.len() == 0)
        .unwrap_or(true);
    let mut missing = Vec::new();
    let mut last_err = None;
    for id in &m.key_ids {
        let Some(key) = find(
            id,
            m.key_dir.as_deref(),
            m.salts.get(id).map(String::as_str),
        )?
        else {
            missing.push(id.clone());
            continue;
        };
        for hmac in m.hmac().and_other() {
            let conn = Connection::open(path).ctx("opening the database")?;
            key.apply(&conn, hmac)?;
            if fresh {
                return Ok((conn, Some(id.clone())));
            }
            match readable(&conn) {
                Ok(()) => return Ok((conn, Some(id.clone()))),
                Err(e) => last_err = Some(e),
            }
        }
    }
    if !fresh {
        // An encryption cut off before the encrypted copy replaced the
        // clear database: the clear one is still the store.
        let conn = Connection::open(path).ctx("opening the database")?;
        if readable(&conn).is_ok() {
            tracing::warn!(
                "the store is in clear: an earlier `wardwatchctl store encrypt` did not finish; run it again"
            );
            let _ = std::fs::remove_file(data_dir.join(CIPHER_FILE));
            return Ok((conn, None));
        }
    }
    if !missing.is_empty() {
        return Err(Error::StoreKeyMissing {
            path: data_dir.to_owned(),
            key_ids: m.key_ids.join(", "),
            key_dir: m
                .key_dir
                .as_deref()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|| "(none recorded)".into()),
        });
    }
    Err(Error::StoreDamaged {
        path: path.to_owned(),
        problems: format!(
            "none of its keys ({}) opens it: {}",
            m.key_ids.join(", "),
            last_err.map(|e| e.to_string()).unwrap_or_default()
        ),
    })
}

/// Opens a database file that is not the store itself (a backup) with
/// whichever key opens it: the keys handed over, the keys `data_dir`
/// lists, and every store key in its key folder and in `key_dir` (a backup
/// may predate a key rotation), each with either page HMAC; else in clear.
/// Returns the connection and the key and HMAC that opened it.
pub(super) fn open_copy(
    path: &Path,
    data_dir: &Path,
    key_dir: Option<&Path>,
    flags: rusqlite::OpenFlags,
) -> Result<(Connection, Option<(StoreKey, PageHmac)>)> {
    let mut candidates: Vec<StoreKey> = PROVIDED.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let listed = marker(data_dir).ok().flatten();
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(m) = &listed {
        for id in &m.key_ids {
            if let Ok(Some(k)) = find(
                id,
                m.key_dir.as_deref(),
                m.salts.get(id).map(String::as_str),
            ) {
                candidates.push(k);
            }
        }
        dirs.extend(m.key_dir.clone());
    }
    dirs.extend(key_dir.map(Path::to_owned));
    for dir in &dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(id) = name
                .strip_prefix("store-")
                .and_then(|n| n.strip_suffix(".key"))
                && let Ok(Some(k)) = find(id, Some(dir), None)
            {
                candidates.push(k);
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    candidates.retain(|k| seen.insert(k.id()));
    for key in candidates {
        for hmac in PageHmac::NEW.and_other() {
            let conn =
                Connection::open_with_flags(path, flags).ctx("opening a copy of the store")?;
            key.apply(&conn, hmac)?;
            if readable(&conn).is_ok() {
                return Ok((conn, Some((key, hmac))));
            }
        }
    }
    let conn = Connection::open_with_flags(path, flags).ctx("opening a copy of the store")?;
    Ok((conn, None))
}

/// Names `key` (None: in clear) as the key of the store in `data_dir`,
/// e.g. for a restore putting in a database encrypted with it. With
/// `keep_current` the keys listed now stay listed after it: written before
/// the database is swapped, so that either database opens.
pub(super) fn name_key(
    data_dir: &Path,
    key: Option<(&StoreKey, PageHmac)>,
    key_dir: &Path,
    keep_current: bool,
) -> Result<()> {
    let current = marker(data_dir)?;
    match key {
        Some((k, hmac)) => {
            let id = k.id();
            let dir = match current.as_ref().and_then(|m| m.key_dir.clone()) {
                Some(d) if key_file(&d, &id).is_file() => Some(d),
                _ if key_file(key_dir, &id).is_file() => Some(key_dir.to_owned()),
                d => d,
            };
            let mut ids = vec![id.clone()];
            if keep_current && let Some(m) = &current {
                ids.extend(m.key_ids.iter().filter(|i| **i != id).cloned());
            }
            let salts = current.map(|m| m.salts).unwrap_or_default();
            write_marker(
                data_dir,
                &Marker::new(ids, dir.as_deref(), hmac).with_salts(&salts),
            )
        }
        None if keep_current => Ok(()),
        None => match std::fs::remove_file(data_dir.join(CIPHER_FILE)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::DataDir {
                path: data_dir.join(CIPHER_FILE),
                source,
            }),
        },
    }
}

/// A raw connection to the store in `data_dir`, keyed as the store is,
/// without migrations or checks: for tools and tests that inspect the file
/// itself. Everything else opens a [`super::Store`].
pub fn connect(data_dir: &Path) -> Result<Connection> {
    let path = data_dir.join(super::DB_FILE);
    if !path.is_file() {
        return Err(Error::NoStore {
            path: data_dir.to_owned(),
        });
    }
    open(data_dir, &path).map(|(conn, _)| conn)
}

/// Makes a new key for a store about to be created in `data_dir`: saved in
/// `key_dir`, named in the data directory's key list.
pub(super) fn prepare_new(data_dir: &Path, key_dir: &Path) -> Result<String> {
    let key = StoreKey::generate()?;
    save_key(key_dir, &key)?;
    let id = key.id();
    write_marker(
        data_dir,
        &Marker::new(vec![id.clone()], Some(key_dir), PageHmac::NEW),
    )?;
    Ok(id)
}

/// What an encryption or a key rotation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rekeyed {
    /// The key the store had (None: it was in clear).
    pub old_key_id: Option<String>,
    pub new_key_id: String,
    /// Where the new key was saved (None: it was provided by the caller).
    pub key_file: Option<PathBuf>,
}

impl super::Store {
    /// The id of the key this store was opened with; None in clear.
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// Encrypts a clear store in place, or rotates an encrypted store's key
    /// (SQLCipher's `PRAGMA rekey`, one transaction). The new key is
    /// `key` when the caller holds it elsewhere (then it must also be
    /// [`provide`]d to later opens), else a new random key saved in
    /// `key_dir`. The caller holds the runtime lock: nothing else may write.
    /// A clear store is exported page by page into an encrypted copy
    /// (`sqlcipher_export`), checked, and renamed over the original; the
    /// clear database, its WAL and the copy's journal are removed.
    pub fn rekey(self, key_dir: &Path, key: Option<NewKey>) -> Result<(super::Store, Rekeyed)> {
        let path = self.path.clone();
        let data_dir = path
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));
        let (new_key, salt, key_file) = match key {
            Some(k) => (k.key, k.salt, None),
            None => {
                let k = StoreKey::generate()?;
                let file = save_key(key_dir, &k)?;
                (k, None, Some(file))
            }
        };
        let new_id = new_key.id();
        let old_id = self.key_id.clone();
        let saved_dir = key_file.as_ref().map(|_| key_dir);
        let prior = marker(&data_dir)?;
        let mut salts = prior.as_ref().map(|m| m.salts.clone()).unwrap_or_default();
        if let Some(salt) = &salt {
            salts.insert(new_id.clone(), salt.clone());
        }
        match &old_id {
            Some(old) => {
                // The old key stays listed until the rotation is done; the
                // pages keep their HMAC (`PRAGMA rekey` changes the key only).
                let dir = saved_dir.or(prior.as_ref().and_then(|m| m.key_dir.as_deref()));
                let hmac = PageHmac::of(&self.conn)?;
                write_marker(
                    &data_dir,
                    &Marker::new(vec![old.clone(), new_id.clone()], dir, hmac).with_salts(&salts),
                )?;
                self.conn
                    .execute_batch(&format!("PRAGMA rekey = {};", new_key.literal()))
                    .ctx("rotating the store's key")?;
                write_marker(
                    &data_dir,
                    &Marker::new(vec![new_id.clone()], dir, hmac).with_salts(&salts),
                )?;
                drop(self);
            }
            None => {
                self.conn
                    .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
                    .ctx("checkpointing before encryption")?;
                let version = self.schema_version()?;
                let copy = data_dir.join(format!("{}.encrypting", super::DB_FILE));
                let _ = std::fs::remove_file(&copy);
                self.conn
                    .execute(
                        &format!("ATTACH DATABASE ?1 AS encrypted KEY {}", new_key.literal()),
                        [copy.to_string_lossy()],
                    )
                    .and_then(|_| {
                        self.conn.execute_batch(&format!(
                            "PRAGMA encrypted.cipher_hmac_algorithm = {};",
                            PageHmac::NEW.pragma()
                        ))
                    })
                    .ctx("creating the encrypted copy")?;
                super::restrict_permissions(&copy)?;
                let exported = self
                    .conn
                    .query_row("SELECT sqlcipher_export('encrypted')", [], |_| Ok(()))
                    .and_then(|()| {
                        self.conn
                            .execute_batch(&format!("PRAGMA encrypted.user_version = {version}"))
                    })
                    .ctx("encrypting the store");
                let _ = self.conn.execute_batch("DETACH DATABASE encrypted");
                if let Err(e) = exported {
                    let _ = std::fs::remove_file(&copy);
                    return Err(e);
                }
                drop(self);
                // Named before the swap: a crash after it leaves an
                // encrypted store whose key is listed; before it, a clear
                // store that opens in clear.
                write_marker(
                    &data_dir,
                    &Marker::new(vec![new_id.clone()], saved_dir, PageHmac::NEW).with_salts(&salts),
                )?;
                std::fs::File::open(&copy)
                    .and_then(|f| f.sync_all())
                    .map_err(|source| Error::DataDir {
                        path: copy.clone(),
                        source,
                    })?;
                for suffix in ["-wal", "-shm"] {
                    let _ =
                        std::fs::remove_file(data_dir.join(format!("{}{suffix}", super::DB_FILE)));
                }
                std::fs::rename(&copy, &path).map_err(|source| Error::DataDir {
                    path: path.clone(),
                    source,
                })?;
                sync_dir(&data_dir);
            }
        }
        if key_file.is_none() {
            provide(new_key);
        }
        let store = super::Store::open_dir(&data_dir)?;
        if store.key_id.as_deref() != Some(new_id.as_str()) {
            return Err(Error::StoreDamaged {
                path,
                problems: "the store did not open with its new key after rekeying".into(),
            });
        }
        Ok((
            store,
            Rekeyed {
                old_key_id: old_id,
                new_key_id: new_id,
                key_file,
            },
        ))
    }
}
