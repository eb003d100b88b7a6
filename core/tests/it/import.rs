//! The registry import as an admin uses it: formats, idempotence, bad input.

use std::path::{Path, PathBuf};

use wardwatch_core::api;
use wardwatch_core::demo;
use wardwatch_core::import::{csv, fhir};
use wardwatch_core::model::PatientRecord;
use wardwatch_core::{Error, ErrorKind};

use crate::{clock, ctx};

fn ward() -> Vec<PatientRecord> {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
    demo::registry(60, 11, today)
}

fn write_csv(dir: &Path, records: &[PatientRecord]) -> PathBuf {
    let path = dir.join("registry.csv");
    let mut buf = Vec::new();
    csv::write(records, &mut buf).expect("csv");
    std::fs::write(&path, buf).expect("write csv");
    path
}

fn write_fhir(dir: &Path, records: &[PatientRecord]) -> PathBuf {
    let path = dir.join("registry.json");
    std::fs::write(&path, fhir::write(records).to_string()).expect("write json");
    path
}

fn db_bytes(dir: &Path) -> Vec<u8> {
    // The patients as stored, serialised: equal stores give equal bytes.
    let c = ctx(dir, "admin");
    serde_json::to_vec(&crate::store_of(&c).patients().expect("patients")).expect("json")
}

#[test]
fn csv_and_fhir_of_the_same_patients_give_the_same_store() {
    let files = crate::private_tempdir();
    let (a, b) = (crate::private_tempdir(), crate::private_tempdir());
    let records = ward();
    let csv_path = write_csv(files.path(), &records);
    let fhir_path = write_fhir(files.path(), &records);

    let r1 = api::import_patients(&mut ctx(a.path(), "admin"), &csv_path).expect("csv import");
    let r2 = api::import_patients(&mut ctx(b.path(), "admin"), &fhir_path).expect("fhir import");
    assert_eq!(
        (r1.inserted, r1.rejected.len()),
        (60, 0),
        "{:?}",
        r1.rejected
    );
    assert_eq!(
        (r2.inserted, r2.rejected.len()),
        (60, 0),
        "{:?}",
        r2.rejected
    );
    assert_eq!(db_bytes(a.path()), db_bytes(b.path()));
    // and the store holds what the registry said
    let stored = crate::store_of(&ctx(a.path(), "admin"))
        .patients()
        .expect("patients");
    let mut expected = records.clone();
    expected.sort_by(|x, y| x.mrn.cmp(&y.mrn));
    let mut got = stored.clone();
    got.sort_by(|x, y| x.mrn.cmp(&y.mrn));
    assert_eq!(got, expected);
}

#[test]
fn importing_the_same_file_twice_changes_nothing() {
    let files = crate::private_tempdir();
    let store = crate::private_tempdir();
    let path = write_fhir(files.path(), &ward());
    let mut c = ctx(store.path(), "admin");
    api::import_patients(&mut c, &path).expect("first import");
    let before = db_bytes(store.path());
    let again = api::import_patients(&mut c, &path).expect("second import");
    assert_eq!((again.inserted, again.updated, again.unchanged), (0, 0, 60));
    assert_eq!(db_bytes(store.path()), before);
}

#[test]
fn changed_record_is_updated_in_place() {
    let files = crate::private_tempdir();
    let store = crate::private_tempdir();
    let mut records = ward();
    let mut c = ctx(store.path(), "admin");
    api::import_patients(&mut c, &write_csv(files.path(), &records)).expect("import");
    records[3].bed = Some("17B".into());
    records[3].allergies.push("Latex".into());
    let r = api::import_patients(&mut c, &write_csv(files.path(), &records)).expect("re-import");
    assert_eq!((r.inserted, r.updated, r.unchanged), (0, 1, 59));
    let stored = crate::store_of(&c)
        .patient(&records[3].mrn)
        .expect("read")
        .expect("present");
    assert_eq!(stored, records[3]);
}

#[test]
fn bad_rows_are_named_and_good_rows_stored() {
    let store = crate::private_tempdir();
    let path = store.path().join("mixed.csv");
    std::fs::write(
        &path,
        "mrn,family_name,given_name,birth_date,sex,baseline_spo2,spo2_scale\n\
         G1,Good,One,1950-01-01,F,95,1\n\
         B1,Bad,SpO2,1950-01-01,F,130,1\n\
         G2,Good,Two,1960-06-30,M,,2\n\
         B2,Bad,Future,2099-01-01,M,,1\n\
         G1,Dup,Licate,1950-01-01,F,95,1\n",
    )
    .expect("write");
    let mut c = ctx(store.path(), "admin");
    let r = api::import_patients(&mut c, &path).expect("import");
    assert_eq!(r.inserted, 2);
    let where_: Vec<_> = r.rejected.iter().map(|x| x.location.as_str()).collect();
    assert_eq!(where_, ["line 3", "line 5", "line 6"]);
    assert!(
        r.rejected[0].reason.contains("SpO2"),
        "{}",
        r.rejected[0].reason
    );
    assert!(
        r.rejected[1].reason.contains("future"),
        "{}",
        r.rejected[1].reason
    );
    assert!(
        r.rejected[2].reason.contains("line 2"),
        "{}",
        r.rejected[2].reason
    );
    assert_eq!(crate::store_of(&c).patient_count().expect("count"), 2);
}

#[test]
fn malformed_file_leaves_the_store_unchanged() {
    let files = crate::private_tempdir();
    let store = crate::private_tempdir();
    let mut c = ctx(store.path(), "admin");
    api::import_patients(&mut c, &write_csv(files.path(), &ward())).expect("import");
    let before = db_bytes(store.path());

    let truncated = files.path().join("truncated.json");
    let full = fhir::write(&ward()).to_string();
    std::fs::write(&truncated, &full[..full.len() / 2]).expect("write");
    let e = api::import_patients(&mut c, &truncated).expect_err("must fail");
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("truncated.json"), "{e}");

    let unknown_column = files.path().join("typo.csv");
    std::fs::write(
        &unknown_column,
        "mrn,family_name,given_name,birth_date,sex,bed_no\n",
    )
    .expect("w");
    let e = api::import_patients(&mut c, &unknown_column).expect_err("must fail");
    assert!(e.to_string().contains("bed_no"), "{e}");

    let missing = files.path().join("nope.csv");
    let e = api::import_patients(&mut c, &missing).expect_err("must fail");
    assert!(matches!(e, Error::ReadFile { .. }), "{e}");

    assert_eq!(db_bytes(store.path()), before);
}

#[test]
fn import_is_audited_with_its_user() {
    let files = crate::private_tempdir();
    let store = crate::private_tempdir();
    let mut c = ctx(store.path(), "admin");
    api::import_patients(&mut c, &write_csv(files.path(), &ward())).expect("import");
    let audit = api::recent_audit(&c, 5).expect("audit");
    let entry = audit
        .iter()
        .find(|e| e.action == "patients.import")
        .expect("audited");
    assert_eq!(entry.actor, "admin");
    assert_eq!(entry.detail["records"], 60);
    assert_eq!(entry.at, clock().0);
}
