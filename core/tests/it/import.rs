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
fn a_store_that_read_a_patient_before_sees_the_record_changed_since() {
    // The live scorer's store reads every patient's record over and over
    // (NEWS2 needs the SpO2 scale); it holds what it read. A change made
    // through another connection (an admin's import while `serve` runs), or
    // through the same one, must be what it reads next, not the old record.
    let files = crate::private_tempdir();
    let store = crate::private_tempdir();
    let mut records = ward();
    let mut c = ctx(store.path(), "admin");
    api::import_patients(&mut c, &write_csv(files.path(), &records)).expect("import");
    let watching = crate::store_of(&c);
    let mrn = records[5].mrn.clone();
    let read = |s: &wardwatch_core::store::Store| s.patient(&mrn).expect("read").expect("present");
    let before = read(&watching);
    assert_eq!(read(&watching), before, "read twice, the same record");
    // The scorer's way: a batch's patients at once, shared with the cache.
    let shared = |s: &wardwatch_core::store::Store| {
        s.patients_shared(&[mrn.as_str(), "NO-SUCH-MRN"])
            .expect("read")
    };
    let first = shared(&watching);
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].as_deref(), Some(&before));
    assert_eq!(first[1], None, "an unknown MRN has no record");

    records[5].bed = Some("22C".into());
    records[5].conditions.push("Heart failure".into());
    api::import_patients(&mut c, &write_csv(files.path(), &records)).expect("re-import");
    assert_eq!(
        shared(&watching)[0].as_deref(),
        Some(&records[5]),
        "another connection's change is seen by a shared read"
    );
    let after = read(&watching);
    assert_eq!(after, records[5], "another connection's change is seen");
    assert_ne!(after, before);

    let mut own = crate::store_of(&c);
    own.attach_audit_keys(&crate::keys()).expect("audit keys");
    assert_eq!(read(&own), records[5]);
    let mut changed = records[5].clone();
    changed.spo2_scale = match changed.spo2_scale {
        wardwatch_core::model::Spo2Scale::One => wardwatch_core::model::Spo2Scale::Two,
        wardwatch_core::model::Spo2Scale::Two => wardwatch_core::model::Spo2Scale::One,
    };
    let now = crate::clock().0;
    own.upsert_patients(
        &[(changed.clone(), wardwatch_core::model::Carried::ALL)],
        &wardwatch_core::store::AuditEntry {
            at: now,
            actor: "admin".into(),
            action: "patients.import".into(),
            target: None,
            detail: serde_json::json!({}),
        },
        now,
    )
    .expect("upsert");
    assert_eq!(read(&own), changed, "its own change is seen");
    assert_eq!(read(&watching), changed);

    // A commit that touches no record (the runtime commits many a second)
    // leaves what was read in place, and a change to one of the record's
    // lists alone, by any connection, is seen.
    let raw = wardwatch_core::store::cipher::connect(c.data_dir()).expect("open the file");
    raw.execute_batch(
        "BEGIN; INSERT INTO settings (key, value) VALUES ('test.unrelated', '1');
         DELETE FROM settings WHERE key = 'test.unrelated'; COMMIT;",
    )
    .expect("an unrelated commit");
    assert_eq!(read(&watching), changed);
    raw.execute(
        "INSERT INTO patient_allergies (patient_id, position, display)
         SELECT id, 99, 'Latex' FROM patients WHERE mrn = ?1",
        [&mrn],
    )
    .expect("add an allergy");
    let mut allergic = changed.clone();
    allergic.allergies.push("Latex".into());
    assert_eq!(read(&watching), allergic, "a list changed alone is seen");
    assert_eq!(read(&own), allergic);
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

/// A patient of the demo registry with allergies, medications, conditions,
/// a bed and baseline vitals, imported as a whole record.
fn imported_full_patient(dir: &Path, files: &Path) -> (wardwatch_core::api::Ctx, PatientRecord) {
    let record = ward()
        .into_iter()
        .find(|r| {
            !r.allergies.is_empty()
                && !r.medications.is_empty()
                && !r.conditions.is_empty()
                && r.bed.is_some()
                && r.baseline.hr_bpm.is_some()
        })
        .expect("a demo patient with a full record");
    let mut admin = ctx(dir, "admin");
    let path = write_csv(files, std::slice::from_ref(&record));
    api::import_patients(&mut admin, &path).expect("full import");
    (admin, record)
}

/// Issue 9, item 2: a CSV with only the five required columns wiped an
/// existing patient's Latex allergy, medications, conditions, ward/bed and
/// baseline vitals, exit 0, no warning.
#[test]
fn a_registry_file_without_some_columns_keeps_what_it_does_not_carry() {
    let (dir, files) = (crate::private_tempdir(), crate::private_tempdir());
    let (mut admin, full) = imported_full_patient(dir.path(), files.path());

    let path = files.path().join("names.csv");
    std::fs::write(
        &path,
        format!(
            "mrn,family_name,given_name,birth_date,sex\n{},{},Renamed,{},{}\n",
            full.mrn,
            full.family_name,
            full.birth_date.expect("born").format("%Y-%m-%d"),
            full.sex.as_str()
        ),
    )
    .expect("write");
    let report = api::import_patients(&mut admin, &path).expect("import");
    assert_eq!((report.updated, report.cleared.len()), (1, 0), "{report:?}");
    let stored = crate::store_of(&admin)
        .patient(&full.mrn)
        .expect("read")
        .expect("stored");
    assert_eq!(stored.given_name, "Renamed");
    assert_eq!(
        PatientRecord {
            given_name: full.given_name.clone(),
            ..stored.clone()
        },
        full,
        "only the name changed"
    );

    // A column the file has, with an empty cell: cleared, and the report says so.
    std::fs::write(
        &path,
        format!(
            "mrn,family_name,given_name,birth_date,sex,allergies\n{},{},Renamed,{},{},\n",
            full.mrn,
            full.family_name,
            full.birth_date.expect("born").format("%Y-%m-%d"),
            full.sex.as_str()
        ),
    )
    .expect("write");
    let report = api::import_patients(&mut admin, &path).expect("import");
    assert_eq!(report.updated, 1);
    assert_eq!(report.cleared.len(), 1, "{report:?}");
    assert_eq!(report.cleared[0].mrn, full.mrn);
    assert_eq!(report.cleared[0].fields, ["allergies"]);
    let stored = crate::store_of(&admin)
        .patient(&full.mrn)
        .expect("read")
        .expect("stored");
    assert!(stored.allergies.is_empty());
    assert_eq!(stored.medications, full.medications);
}

/// Issue 9, item 2, for FHIR: a Bundle of Patients alone (no Condition,
/// MedicationStatement or AllergyIntolerance, none of Wardwatch's
/// extensions) must not erase the lists, the bed or the baseline.
#[test]
fn a_bundle_without_list_resources_or_extensions_keeps_them() {
    let (dir, files) = (crate::private_tempdir(), crate::private_tempdir());
    let (mut admin, full) = imported_full_patient(dir.path(), files.path());
    let bundle = serde_json::json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{
            "fullUrl": "urn:uuid:p1",
            "resource": {
                "resourceType": "Patient",
                "identifier": [{
                    "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                    "value": full.mrn,
                }],
                "name": [{"family": full.family_name, "given": ["Changed"]}],
            }
        }]
    });
    let path = files.path().join("bundle.json");
    std::fs::write(&path, bundle.to_string()).expect("write");
    let report = api::import_patients(&mut admin, &path).expect("import");
    assert_eq!(
        (report.updated, report.rejected.len()),
        (1, 0),
        "{report:?}"
    );
    let stored = crate::store_of(&admin)
        .patient(&full.mrn)
        .expect("read")
        .expect("stored");
    assert_eq!(stored.given_name, "Changed");
    assert_eq!(
        (&stored.allergies, &stored.medications, &stored.conditions),
        (&full.allergies, &full.medications, &full.conditions)
    );
    assert_eq!((&stored.ward, &stored.bed), (&full.ward, &full.bed));
    assert_eq!(stored.baseline, full.baseline);
    assert_eq!(
        (stored.birth_date, stored.sex),
        (full.birth_date, full.sex),
        "birthDate and gender absent: kept"
    );
}

/// Issue 9, item 3: `birthDate` is 0..1 in FHIR R4; an unidentified
/// emergency admission has none. Rejecting the patient sent their vital
/// signs to quarantine as an unknown patient.
#[test]
fn a_fhir_patient_without_a_birth_date_is_imported_with_the_age_unknown() {
    let (dir, files) = (crate::private_tempdir(), crate::private_tempdir());
    let mut admin = ctx(dir.path(), "admin");
    let bundle = serde_json::json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{
            "fullUrl": "urn:uuid:u1",
            "resource": {
                "resourceType": "Patient",
                "identifier": [{
                    "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                    "value": "ED-UNKNOWN-4",
                }],
                "name": [{"text": "Unknown Trauma Four"}],
                "gender": "male",
            }
        }]
    });
    let path = files.path().join("ed.json");
    std::fs::write(&path, bundle.to_string()).expect("write");
    let report = api::import_patients(&mut admin, &path).expect("import");
    assert_eq!(
        (report.inserted, report.rejected.len()),
        (1, 0),
        "{report:?}"
    );
    let view = api::show_patient(&admin, "ED-UNKNOWN-4").expect("show");
    assert_eq!(view.record.birth_date, None);
    assert_eq!(view.age_years, None);
    assert_eq!(view.record.family_name, "Unknown Trauma Four");
    let listed = api::list_patients(&admin).expect("list");
    assert_eq!(listed[0].age_years, None);
}

/// Issue 9, item 9: a Latin-1 CSV stored its ASCII rows and rejected the
/// rest (exit 3) while docs/import.md said a non-UTF-8 file changes nothing.
#[test]
fn a_latin1_file_changes_nothing_and_says_which_encoding_it_looks_like() {
    let (dir, files) = (crate::private_tempdir(), crate::private_tempdir());
    let mut admin = ctx(dir.path(), "admin");
    let path = files.path().join("latin1.csv");
    let mut bytes =
        b"mrn,family_name,given_name,birth_date,sex\nA1,Smith,Ann,1950-01-01,F\n".to_vec();
    bytes.extend_from_slice(b"A2,M\xfcller,J\xfcrgen,1950-01-01,M\n");
    std::fs::write(&path, bytes).expect("write");
    let err = api::import_patients(&mut admin, &path).expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("not UTF-8") && text.contains("line 3"),
        "{text}"
    );
    assert!(text.contains("ISO-8859-1"), "{text}");
    assert_eq!(crate::store_of(&admin).patient_count().expect("count"), 0);
}

/// Issue 9, item 8: a 1 MB name was stored, names with ESC were printed
/// raw, and `import patients /dev/zero` allocated until memory ran out.
#[test]
fn oversized_fields_control_characters_and_endless_files_are_refused() {
    let (dir, files) = (crate::private_tempdir(), crate::private_tempdir());
    let mut admin = ctx(dir.path(), "admin");
    let path = files.path().join("big.csv");
    let long = "x".repeat(1_000_000);
    std::fs::write(
        &path,
        format!(
            "mrn,family_name,given_name,birth_date,sex\n\
             A1,{long},Ann,1950-01-01,F\n\
             A2,Evil\u{1b}[2J,Bob,1950-01-01,M\n\
             A3,Right\u{202e}Left,Cy,1950-01-01,M\n\
             A4,Fine,Dee,1950-01-01,F\n"
        ),
    )
    .expect("write");
    let report = api::import_patients(&mut admin, &path).expect("import");
    assert_eq!(report.inserted, 1);
    let reasons: Vec<&str> = report.rejected.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[0].contains("at most 200"), "{reasons:?}");
    assert!(reasons[1].contains("U+001B"), "{reasons:?}");
    assert!(reasons[2].contains("U+202E"), "{reasons:?}");

    let err = api::import_patients(&mut admin, Path::new("/dev/zero")).expect_err("refused");
    assert!(err.to_string().contains("MiB limit"), "{err}");
}
