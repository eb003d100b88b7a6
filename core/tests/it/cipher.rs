//! Encryption at rest (issue 12): a new store is a SQLCipher database whose
//! key lives outside the data directory; a store kept in clear is encrypted
//! in place; keys rotate; backups and restores keep working across a
//! rotation; a missing or wrong key is a clear error, never an empty store.

use std::path::Path;

use wardwatch_core::ErrorKind;
use wardwatch_core::api::{self, Ctx};
use wardwatch_core::store::{AuditKeys, DB_FILE, Store, StoreKey, cipher};

use crate::{clock, private_tempdir};

/// A key folder of its own, so that a test can lose or damage keys.
fn own_keys(dir: &Path) -> AuditKeys {
    AuditKeys::in_dir(dir.join("keys"))
}

fn ward(data: &Path, keys: &AuditKeys) -> Vec<(String, String)> {
    let mut c = Ctx::create(data, keys, "admin", clock()).expect("create");
    api::load_demo_ward(&mut c, 5).expect("demo");
    api::list_patients(&c)
        .expect("patients")
        .into_iter()
        .map(|p| (p.mrn, p.name))
        .collect()
}

/// A store made in clear (as before encryption came) holding a demo ward,
/// opened as its admin.
fn clear_ward(data: &Path, keys: &AuditKeys) -> Ctx {
    Store::create_dir(data).expect("create");
    let mut c = Ctx::open(data, keys, "admin", clock()).expect("open");
    api::load_demo_ward(&mut c, 5).expect("demo");
    c
}

fn bytes_of_folder(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in walk(dir) {
        out.push((e.display().to_string(), std::fs::read(&e).expect("read")));
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).expect("list").flatten() {
        let p = e.path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}

fn contains(hay: &[u8], needle: &str) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Asserts no file of `dir` holds an MRN, or a part of a name (of five
/// letters or more), of `ward`. Not four: ciphertext is random bytes, and
/// a 400 kB store holds a given 4-byte string by chance with a probability
/// of ~1e-4 (400,000 / 2³²), for each of a ward's dozen name parts, in
/// each test that asks — about once in 400 runs (seen once); five
/// letters are 256 times less likely.
fn assert_no_patient_in(dir: &Path, ward: &[(String, String)]) {
    for (file, bytes) in bytes_of_folder(dir) {
        for (mrn, name) in ward {
            assert!(!contains(&bytes, mrn), "MRN {mrn} in clear in {file}");
            for part in name.split(|c: char| !c.is_alphabetic()) {
                if part.chars().count() >= 5 {
                    assert!(!contains(&bytes, part), "name {part} in clear in {file}");
                }
            }
        }
    }
}

#[test]
fn a_new_store_is_encrypted_with_a_key_kept_outside_its_folder() {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    let keys = own_keys(dir.path());
    let patients = ward(&data, &keys);
    assert!(!patients.is_empty());
    let store = Store::open_dir(&data).expect("reopen");
    let id = store.key_id().expect("encrypted").to_owned();
    drop(store);
    let head = std::fs::read(data.join(DB_FILE)).expect("read");
    assert!(
        !head.starts_with(b"SQLite format 3\0"),
        "a clear SQLite file"
    );
    assert_no_patient_in(&data, &patients);
    // The folder names its key; the key is in the key folder.
    let listed = cipher::marker(&data).expect("read").expect("listed");
    assert_eq!(listed.key_ids, vec![id.clone()]);
    assert!(keys.dir().join(format!("store-{id}.key")).is_file());
    for f in walk(&data) {
        let name = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        assert!(!name.ends_with(".key"), "a key in the data folder: {name}");
    }
    // Plain SQLite cannot read it.
    let plain = rusqlite::Connection::open(data.join(DB_FILE)).expect("open");
    assert!(
        plain
            .query_row("SELECT count(*) FROM patients", [], |r| r.get::<_, i64>(0))
            .is_err()
    );
}

#[test]
fn a_lost_key_is_a_clear_error_and_a_wrong_key_never_an_empty_store() {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    let keys = own_keys(dir.path());
    ward(&data, &keys);
    let id = Store::open_dir(&data)
        .expect("open")
        .key_id()
        .expect("encrypted")
        .to_owned();
    let key_file = keys.dir().join(format!("store-{id}.key"));
    let saved = std::fs::read(&key_file).expect("key");
    std::fs::remove_file(&key_file).expect("lose the key");
    let err = Store::open_dir(&data).expect_err("no key");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    assert!(err.to_string().contains(&id), "{err}");
    // Someone else's key under this key's name is refused as damaged.
    let other = StoreKey::generate().expect("key");
    std::fs::write(&key_file, other.to_hex()).expect("write");
    let err = Store::open_dir(&data).expect_err("wrong key");
    assert!(err.to_string().contains("does not hold the key"), "{err}");
    // The right key back: all there.
    std::fs::write(&key_file, &saved).expect("restore");
    let store = Store::open_dir(&data).expect("open");
    assert!(!store.patients().expect("patients").is_empty());
}

#[test]
fn a_clear_store_is_encrypted_in_place_and_its_key_rotated_keeping_every_row() {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    let keys = own_keys(dir.path());
    // A store from before encryption: in clear.
    let c = clear_ward(&data, &keys);
    let before = api::list_patients(&c).expect("patients");
    let patients: Vec<_> = before
        .iter()
        .map(|p| (p.mrn.clone(), p.name.clone()))
        .collect();
    assert!(api::store_key_id(&c).expect("read").is_none());
    let backup_clear = dir.path().join("clear.db");
    api::backup_store(&c, &backup_clear).expect("backup");
    // Rotating a clear store's key is refused with the command to use.
    let err = api::rekey_store(c, true, None).expect_err("in clear");
    assert!(err.to_string().contains("store encrypt"), "{err}");

    let c = Ctx::open(&data, &keys, "admin", clock()).expect("open");
    let done = api::rekey_store(c, false, None).expect("encrypt");
    assert!(done.old_key_id.is_none());
    assert_no_patient_in(&data, &patients);
    let c = Ctx::open(&data, &keys, "admin", clock()).expect("open");
    assert_eq!(api::list_patients(&c).expect("patients"), before);
    // The encrypted copy has the whole schema, the triggers that count
    // changes to patient records (for every connection's cache of them)
    // included.
    let counted: i64 = wardwatch_core::store::cipher::connect(&data)
        .expect("open the file")
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%counted'",
            [],
            |r| r.get(0),
        )
        .expect("read the schema");
    assert_eq!(counted, 12);
    assert_eq!(
        api::store_key_id(&c).expect("read").as_deref(),
        Some(done.new_key_id.as_str())
    );
    let err = api::rekey_store(c, false, None).expect_err("encrypted already");
    assert!(err.to_string().contains("store rekey"), "{err}");

    // A backup with the first key, then a rotation.
    let c = Ctx::open(&data, &keys, "admin", clock()).expect("open");
    let backup_first = dir.path().join("first.db");
    api::backup_store(&c, &backup_first).expect("backup");
    assert!(
        !std::fs::read(&backup_first)
            .expect("read")
            .starts_with(b"SQLite format 3\0"),
        "a backup of an encrypted store is encrypted"
    );
    let rotated = api::rekey_store(c, true, None).expect("rotate");
    assert_eq!(
        rotated.old_key_id.as_deref(),
        Some(done.new_key_id.as_str())
    );
    assert_ne!(rotated.new_key_id, done.new_key_id);
    let c = Ctx::open(&data, &keys, "admin", clock()).expect("open");
    assert_eq!(api::list_patients(&c).expect("patients"), before);
    let trail = api::recent_audit(&c, 50).expect("audit");
    for action in ["store.encrypt", "store.rekey"] {
        assert!(trail.iter().any(|e| e.action == action), "{action} audited");
    }
    assert!(api::verify_audit(&c).expect("verify").problems.is_empty());

    // The backup made before the rotation still restores (its key file is
    // kept), and so does the clear one; both keep every row.
    for backup in [&backup_first, &backup_clear] {
        let c = Ctx::open(&data, &keys, "admin", clock()).expect("open");
        api::restore_store(c, backup).expect("restore");
        let c = Ctx::open(&data, &keys, "admin", clock()).expect("open");
        assert_eq!(api::list_patients(&c).expect("patients"), before);
    }
}

#[test]
fn an_encryption_cut_off_before_the_swap_leaves_the_clear_store_whole() {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    let keys = own_keys(dir.path());
    let c = clear_ward(&data, &keys);
    let before = api::list_patients(&c).expect("patients");
    drop(c);
    // What a crash leaves after the key list is written and before the
    // encrypted copy replaces the database: a listed key, a clear store.
    let key = StoreKey::generate().expect("key");
    cipher::save_key(keys.dir(), &key).expect("save");
    let listed = serde_json::json!({
        "cipher": "sqlcipher", "key_ids": [key.id()], "key_dir": keys.dir(),
    });
    std::fs::write(data.join(cipher::CIPHER_FILE), listed.to_string()).expect("write");
    std::fs::write(data.join("wardwatch.db.encrypting"), b"half a copy").expect("write");
    let c = Ctx::open(&data, &keys, "admin", clock()).expect("opens in clear");
    assert_eq!(api::list_patients(&c).expect("patients"), before);
    assert!(api::store_key_id(&c).expect("read").is_none());
    // And encrypting again finishes the job.
    api::rekey_store(c, false, None).expect("encrypt");
    let c = Ctx::open(&data, &keys, "admin", clock()).expect("open");
    assert!(api::store_key_id(&c).expect("read").is_some());
    assert_eq!(api::list_patients(&c).expect("patients"), before);
}

#[test]
fn a_key_handed_over_as_bytes_opens_a_store_whose_key_is_in_no_folder() {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    let keys = own_keys(dir.path());
    Store::create_dir(&data).expect("create");
    let c = Ctx::open(&data, &keys, "admin", clock()).expect("open");
    // As from a systemd credential: the caller keeps the key.
    let key = StoreKey::generate().expect("key");
    let id = key.id();
    let done =
        api::rekey_store(c, false, Some(cipher::NewKey::given(key.clone()))).expect("encrypt");
    assert_eq!(done.new_key_id, id);
    assert!(done.key_file.is_none());
    assert!(!keys.dir().join(format!("store-{id}.key")).exists());
    // This process was handed the key; it opens.
    let store = Store::open_dir(&data).expect("open with the provided key");
    assert_eq!(store.key_id(), Some(id.as_str()));
    assert_eq!(
        StoreKey::from_bytes(key.to_hex().as_bytes())
            .expect("hex")
            .id(),
        id
    );
    assert!(StoreKey::from_bytes(b"short").is_err());
}

/// Whether the database file at `path` opens with `key` and SQLCipher's
/// page HMAC `hmac` ("HMAC_SHA256", "HMAC_SHA512").
fn opens_with(path: &Path, key_hex: &str, hmac: &str) -> bool {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.execute_batch(&format!(
        "PRAGMA cipher_log_level = NONE; PRAGMA key = \"x'{key_hex}'\"; PRAGMA cipher_hmac_algorithm = {hmac};"
    ))
    .expect("key");
    conn.query_row("SELECT count(*) FROM patients", [], |r| r.get::<_, i64>(0))
        .is_ok()
}

#[test]
fn a_store_written_with_hmac_sha512_keeps_opening_and_a_restore_moves_it_to_sha256() {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    let keys = own_keys(dir.path());
    ward(&data, &keys);
    let c = Ctx::open(&data, &keys, "admin", clock()).expect("open");
    let before = api::list_patients(&c).expect("patients");
    let id = api::store_key_id(&c).expect("read").expect("encrypted");
    drop(c);
    let key_hex = |id: &str| {
        StoreKey::from_bytes(
            &std::fs::read(keys.dir().join(format!("store-{id}.key"))).expect("key"),
        )
        .expect("key")
        .to_hex()
    };
    // A new store's pages carry HMAC-SHA-256, and its key list says so.
    let db = data.join(DB_FILE);
    assert!(opens_with(&db, &key_hex(&id), "HMAC_SHA256"));
    assert!(!opens_with(&db, &key_hex(&id), "HMAC_SHA512"));
    let listed = cipher::marker(&data).expect("read").expect("listed");
    assert_eq!(listed.hmac(), cipher::PageHmac::Sha256);
    assert!(listed.cipher.contains("HMAC-SHA-256"), "{}", listed.cipher);

    // The same store as a build before HMAC-SHA-256 wrote it: SQLCipher 4's
    // default pages (HMAC-SHA-512) and the key list's name for them.
    let old = data.join("old.db");
    {
        let conn = cipher::connect(&data).expect("open the file");
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        conn.execute_batch(&format!(
            "PRAGMA wal_checkpoint(TRUNCATE);
             ATTACH DATABASE '{}' AS old KEY \"x'{}'\";
             PRAGMA old.cipher_hmac_algorithm = HMAC_SHA512;
             SELECT sqlcipher_export('old');
             PRAGMA old.user_version = {version};
             DETACH DATABASE old;",
            old.display(),
            key_hex(&id)
        ))
        .expect("export");
    }
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(data.join(format!("{DB_FILE}{suffix}")));
    }
    std::fs::rename(&old, &db).expect("swap");
    assert!(opens_with(&db, &key_hex(&id), "HMAC_SHA512"));
    let list = std::fs::read_to_string(data.join(cipher::CIPHER_FILE)).expect("list");
    std::fs::write(
        data.join(cipher::CIPHER_FILE),
        list.replace("HMAC-SHA-256", "HMAC-SHA-512"),
    )
    .expect("write");
    assert_eq!(
        cipher::marker(&data).expect("read").expect("listed").hmac(),
        cipher::PageHmac::Sha512
    );

    // It opens with every row, and takes new ones.
    let mut c = Ctx::open(&data, &keys, "admin", clock()).expect("open the old store");
    assert_eq!(api::list_patients(&c).expect("patients"), before);
    api::load_demo_ward(&mut c, 2).expect("more patients");
    let grown = api::list_patients(&c).expect("patients");
    assert!(grown.len() > before.len());
    // A key rotation keeps its pages, and the key list says which.
    let rotated = api::rekey_store(c, true, None).expect("rotate");
    let listed = cipher::marker(&data).expect("read").expect("listed");
    assert_eq!(listed.hmac(), cipher::PageHmac::Sha512);
    assert!(opens_with(
        &db,
        &key_hex(&rotated.new_key_id),
        "HMAC_SHA512"
    ));
    let c = Ctx::open(&data, &keys, "admin", clock()).expect("open");
    assert_eq!(api::list_patients(&c).expect("patients"), grown);

    // A key list that names the wrong HMAC costs a try, not the store.
    let list = std::fs::read_to_string(data.join(cipher::CIPHER_FILE)).expect("list");
    std::fs::write(
        data.join(cipher::CIPHER_FILE),
        list.replace("HMAC-SHA-512", "HMAC-SHA-256"),
    )
    .expect("write");
    drop(c);
    let c = Ctx::open(&data, &keys, "admin", clock()).expect("open despite the list");
    assert_eq!(api::list_patients(&c).expect("patients"), grown);

    // Its backup is written with HMAC-SHA-256; restored, the store is.
    let backup = dir.path().join("old-store.db");
    api::backup_store(&c, &backup).expect("backup");
    assert!(opens_with(
        &backup,
        &key_hex(&rotated.new_key_id),
        "HMAC_SHA256"
    ));
    api::restore_store(c, &backup).expect("restore");
    assert!(opens_with(
        &db,
        &key_hex(&rotated.new_key_id),
        "HMAC_SHA256"
    ));
    assert_eq!(
        cipher::marker(&data).expect("read").expect("listed").hmac(),
        cipher::PageHmac::Sha256
    );
    let c = Ctx::open(&data, &keys, "admin", clock()).expect("open the restored store");
    assert_eq!(api::list_patients(&c).expect("patients"), grown);
}
