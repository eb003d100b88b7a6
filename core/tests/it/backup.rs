//! A damaged store is found and refused, and a backup brings it back
//! (issue 9, item 10).

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use wardwatch_core::api;
use wardwatch_core::store::{DB_FILE, Store};
use wardwatch_core::{Error, ErrorKind};

use crate::ctx;

/// Overwrites one page in the middle of the database with garbage, as a
/// failing disk would; page 1 (the header and schema) stays readable.
fn damage_a_middle_page(dir: &Path) {
    let path = dir.join(DB_FILE);
    let len = std::fs::metadata(&path).expect("db").len();
    let pages = len / 4096;
    assert!(
        pages > 8,
        "a store of {pages} pages is too small to damage in the middle"
    );
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    f.seek(SeekFrom::Start(pages / 2 * 4096)).expect("seek");
    f.write_all(&[0xA5; 4096]).expect("write");
}

#[test]
fn a_store_that_is_not_a_database_is_refused_and_left_untouched() {
    let dir = crate::private_tempdir();
    drop(ctx(dir.path(), "admin"));
    let path = dir.path().join(DB_FILE);
    let garbage = b"this is not a database, it is a failing disk".repeat(200);
    std::fs::write(&path, &garbage).expect("write");
    let err = Store::open_dir(dir.path()).expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Damaged, "{err}");
    assert!(err.to_string().contains("store restore"), "{err}");
    assert_eq!(
        std::fs::read(&path).expect("read"),
        garbage,
        "left as it was"
    );
}

#[test]
fn check_finds_a_damaged_page_and_a_backup_restores_the_store() {
    let (dir, files) = (crate::private_tempdir(), crate::private_tempdir());
    let mut admin = ctx(dir.path(), "admin");
    // Enough patients for a store of many pages.
    let registry = files.path().join("registry.csv");
    let mut csv = Vec::new();
    wardwatch_core::import::csv::write(
        &wardwatch_core::demo::registry(
            400,
            5,
            chrono::NaiveDate::from_ymd_opt(2026, 11, 25).expect("date"),
        ),
        &mut csv,
    )
    .expect("csv");
    std::fs::write(&registry, csv).expect("write");
    api::import_patients(&mut admin, &registry).expect("import");
    assert!(api::check_store(&admin, true).expect("check").is_empty());

    let backup = files.path().join("backup.db");
    let written = api::backup_store(&admin, &backup).expect("backup");
    assert!(written.bytes > 0);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup)
            .expect("backup")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the backup holds patient data");
    }
    // A second backup to the same file is refused; the first is kept.
    let again = api::backup_store(&admin, &backup).expect_err("no overwrite");
    assert_eq!(again.kind(), ErrorKind::InvalidInput);
    let patients_then = crate::store_of(&admin).patient_count().expect("count");
    drop(admin);

    damage_a_middle_page(dir.path());
    let problems = Store::open_dir(dir.path())
        .and_then(|s| s.check(true))
        .or_else(|e| match e {
            Error::StoreDamaged { problems, .. } => Ok(vec![problems]),
            e => Err(e),
        })
        .expect("check runs");
    assert!(!problems.is_empty(), "the damage is found");

    let restored_from = wardwatch_core::store::backup::restore(
        dir.path(),
        &crate::keys(),
        &backup,
        "admin",
        chrono::Utc::now(),
    )
    .expect("restore");
    assert!(restored_from.exists(), "the replaced database is kept");
    let store = Store::open_dir(dir.path()).expect("open the restored store");
    assert!(store.check(true).expect("check").is_empty());
    assert_eq!(store.patient_count().expect("count"), patients_then);
    let audit = store.recent_audit(5).expect("audit");
    assert!(
        audit.iter().any(|e| e.action == "store.restore"),
        "{audit:?}"
    );
}

#[test]
fn a_damaged_backup_is_refused_and_the_store_is_kept() {
    let (dir, files) = (crate::private_tempdir(), crate::private_tempdir());
    drop(ctx(dir.path(), "admin"));
    let bad = files.path().join("bad.db");
    std::fs::write(&bad, b"not a backup".repeat(500)).expect("write");
    let err = wardwatch_core::store::backup::restore(
        dir.path(),
        &crate::keys(),
        &bad,
        "admin",
        chrono::Utc::now(),
    )
    .expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Damaged, "{err}");
    Store::open_dir(dir.path()).expect("the store is still there");
}
