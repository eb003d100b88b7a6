//! Migrations are append-only, and every store an earlier build made still
//! opens. A store made by the first schema (migration 1 as it landed) is
//! upgraded with its rows kept; stores made by the builds that edited
//! migration 1 in place are recognised for the version they hold; each ends
//! with exactly the schema of a fresh store. The old schemas are fixtures in
//! `schemas/`, copied from git.

use std::path::Path;

use rusqlite::Connection;
use wardwatch_core::ErrorKind;
use wardwatch_core::alarms::{LimitEdit, Priority};
use wardwatch_core::api::{self, Ctx};
use wardwatch_core::model::Vital;
use wardwatch_core::store::{DB_FILE, Role};

use crate::{clock, ctx};

const FIRST: &str = include_str!("schemas/first_60daed1.sql");

/// Migration 1 as each in-place edit left it, with the version whose schema
/// it made.
const EDITED: [(&str, &str, i64); 3] = [
    ("fa62508", include_str!("schemas/edited_fa62508.sql"), 2),
    ("5de72fc", include_str!("schemas/edited_5de72fc.sql"), 3),
    ("ecc5b45", include_str!("schemas/edited_ecc5b45.sql"), 4),
];

/// A database as a build that ran `migration_1` left it: that schema, and
/// `user_version` 1.
fn store_made_by(dir: &Path, migration_1: &str) -> Connection {
    let conn = Connection::open(dir.join(DB_FILE)).expect("create the database");
    conn.execute_batch(migration_1)
        .expect("apply the old schema");
    conn.pragma_update(None, "user_version", 1)
        .expect("record version 1");
    conn
}

/// A store as this build creates it: its schema and version are what every
/// upgraded store must end with.
fn fresh_store(dir: &Path) -> Connection {
    drop(ctx(dir, "admin"));
    wardwatch_core::store::cipher::connect(dir).expect("reopen")
}

/// Every table, index and trigger with its SQL, compared as SQLite reads
/// it: comments and layout dropped, and quotes too, since a table rebuilt by
/// a migration comes back from `RENAME` as `CREATE TABLE "alarms"`. The SQL
/// still carries every column, type, default, constraint and reference.
fn schema(conn: &Connection) -> Vec<(String, String, String, Option<String>)> {
    let mut stmt = conn
        .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
        .expect("read the schema");
    stmt.query_map([], |r| {
        let sql: Option<String> = r.get(3)?;
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            sql.as_deref().map(normalise),
        ))
    })
    .expect("read the schema")
    .collect::<rusqlite::Result<_>>()
    .expect("read the schema")
}

fn normalise(sql: &str) -> String {
    let code: Vec<&str> = sql
        .lines()
        .map(|line| line.split("--").next().unwrap_or_default())
        .collect();
    code.join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('"', "")
}

fn version(conn: &Connection) -> i64 {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("read user_version")
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

#[test]
fn the_migrations_make_exactly_the_schema_the_edited_migration_1_made() {
    let fresh = crate::private_tempdir();
    let edited = crate::private_tempdir();
    let (_, newest_edit, _) = EDITED[2];
    // The edited store is recognised at version 4 and taken on from there
    // by the later migrations, the same ones a fresh store ran.
    drop(store_made_by(edited.path(), newest_edit));
    drop(ctx(edited.path(), "admin"));
    let upgraded = wardwatch_core::store::cipher::connect(edited.path()).expect("reopen");
    assert_eq!(schema(&fresh_store(fresh.path())), schema(&upgraded));
}

/// Rows in every table of the first schema, as a build of that time would
/// have left them (ECG, alarms and quarantine were never written by one, but
/// their rebuilds must carry a row over all the same).
fn fill_first_schema(conn: &Connection) {
    conn.execute_batch(
        "
INSERT INTO patients (id, mrn, family_name, given_name, birth_date, sex, ward, bed,
    attending, spo2_scale, alert_consent, baseline_hr, admitted_ms, created_ms, updated_ms)
VALUES (7, 'MRN-0007', 'Okafor', 'Ada', '1950-03-02', 'female', 'B', '4',
    'Dr Lee', 2, 1, 72.0, 1764000000000, 1764000000000, 1764000000000);
INSERT INTO patient_conditions VALUES (7, 0, 'COPD'), (7, 1, 'Atrial fibrillation');
INSERT INTO patient_medications VALUES (7, 0, 'Apixaban 5 mg');
INSERT INTO patient_allergies VALUES (7, 0, 'Penicillin');
INSERT INTO users (username, display_name, role, active, created_ms) VALUES
    ('admin', 'admin', 'admin', 1, 1764000000000),
    ('nurse.kim', 'Kim', 'clinician', 1, 1764000000000);
INSERT INTO audit_log (ts_ms, actor, action, target, detail)
VALUES (1764000000000, 'admin', 'patients.import', NULL, '{\"records\":1}');
INSERT INTO settings VALUES ('ward.name', 'Ward B');
INSERT INTO devices (id, device_uid, kind, patient_id, linked_ms)
VALUES (3, 'monitor-b4', 'bedside', 7, 1764000000000);
INSERT INTO vital_samples VALUES (7, 1, 1764000060000, 88.0, 0, 3);
INSERT INTO scores (patient_id, kind, ts_ms, value, detail)
VALUES (7, 'news2', 1764000060000, 3, '{}');
INSERT INTO ecg_blocks (id, patient_id, lead, start_ms, fs_hz, n_samples, factor_uv,
    encoding, data)
VALUES (11, 7, 131329, 1764000000000, 250.0, 2500, 5.0, 1, x'00');
INSERT INTO alarms (id, patient_id, condition, priority, state, message, raised_ms,
    updated_ms, detail)
VALUES (5, 7, 'hr_high', 'medium', 'active', 'HR 131 /min', 1764000000000,
    1764000000000, '{}');
INSERT INTO source_checkpoints VALUES ('gateway', '0', '41', 1764000000000);
INSERT INTO sync_outbox (zone, object_key, payload, created_ms)
VALUES ('raw', 'raw/2025/11/24/a.json', x'7b7d', 1764000000000);
INSERT INTO quarantine (received_ms, source, reason, raw)
VALUES (1764000000000, 'gateway', 'not JSON', x'6e6f');
",
    )
    .expect("fill the first schema");
}

#[test]
fn a_store_made_by_the_first_schema_is_upgraded_with_its_rows_kept() {
    let dir = crate::private_tempdir();
    fill_first_schema(&store_made_by(dir.path(), FIRST));

    let admin = ctx(dir.path(), "admin");
    let nurse = ctx(dir.path(), "nurse.kim");
    // What the first schema held reads back through the API.
    let patient = api::show_patient(&nurse, "MRN-0007").expect("the patient");
    assert_eq!(
        patient.record.conditions,
        ["COPD", "Atrial fibrillation"],
        "conditions keep their order"
    );
    assert_eq!(patient.record.medications, ["Apixaban 5 mg"]);
    assert_eq!(patient.record.allergies, ["Penicillin"]);
    assert!(patient.record.alert_consent);
    let users = api::list_users(&admin).expect("users");
    assert!(
        users
            .iter()
            .any(|u| u.username == "nurse.kim" && u.role == Role::Clinician),
        "{users:?}"
    );
    let audit = api::recent_audit(&admin, 100).expect("audit");
    assert!(
        audit.iter().any(|e| e.action == "patients.import"),
        "{audit:?}"
    );
    // The rebuilt tables kept their rows, in the new columns.
    let alarms = api::list_alarms(&nurse, true).expect("alarms");
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    assert_eq!(
        (
            alarms[0].id,
            alarms[0].key.as_str(),
            alarms[0].state.as_str()
        ),
        (5, "hr_high", "active")
    );
    let quarantined = api::quarantine(&admin, 10).expect("quarantine");
    assert_eq!(quarantined.len(), 1);
    assert_eq!(
        (quarantined[0].code.as_str(), quarantined[0].reason.as_str()),
        ("unclassified", "not JSON")
    );
    // The tables and columns the later migrations added work.
    let acked = api::ack_alarm(&nurse, 5, Some("seen")).expect("ack");
    assert_eq!(acked.state, "acknowledged");
    assert_eq!(acked.acked_by.as_deref(), Some("nurse.kim"));
    api::notify_patient(&nurse, 5, "Please sit down and rest").expect("alert the patient");
    api::silence_patient(&nurse, "MRN-0007", 5, Priority::Low).expect("silence");
    api::set_alarm_limit(
        &nurse,
        "MRN-0007",
        Vital::HeartRate,
        LimitEdit::Set(40.0),
        LimitEdit::Set(140.0),
    )
    .expect("limit");
    drop((admin, nurse));

    let fresh_dir = crate::private_tempdir();
    let fresh = fresh_store(fresh_dir.path());
    let conn = wardwatch_core::store::cipher::connect(dir.path()).expect("reopen");
    assert_eq!(version(&conn), version(&fresh));
    for (sql, rows) in [
        ("SELECT count(*) FROM settings WHERE value = 'Ward B'", 1),
        ("SELECT count(*) FROM devices WHERE patient_id = 7", 1),
        // Packed into its minute's block by migration 20.
        (
            "SELECT count(*) FROM vital_blocks WHERE patient_id = 7 AND vital = 1
             AND minute_ms = 1764000060000 AND n = 1",
            1,
        ),
        ("SELECT count(*) FROM scores WHERE kind = 'news2'", 1),
        (
            "SELECT count(*) FROM source_checkpoints WHERE sequence = '41'",
            1,
        ),
        ("SELECT count(*) FROM sync_outbox", 1),
        (
            "SELECT count(*) FROM patient_messages WHERE alarm_id = 5",
            1,
        ),
        (
            "SELECT count(*) FROM alarm_silences WHERE patient_id = 7",
            1,
        ),
        (
            "SELECT count(*) FROM patient_alarm_limits WHERE patient_id = 7",
            1,
        ),
        // 250 Hz is a 4 ms period; 5 µV is 0.005 mV.
        (
            "SELECT count(*) FROM ecg_blocks WHERE id = 11 AND period_ns = 4000000
             AND origin_mv = 0 AND abs(factor_mv - 0.005) < 1e-12 AND data = x'00'",
            1,
        ),
        ("SELECT count(*) FROM pragma_foreign_key_check", 0),
    ] {
        assert_eq!(count(&conn, sql), rows, "{sql}");
    }
    let data: Vec<u8> = conn
        .query_row(
            "SELECT data FROM vital_blocks WHERE patient_id = 7",
            [],
            |r| r.get(0),
        )
        .expect("the packed block");
    assert_eq!(
        wardwatch_core::store::numerics::decode(1_764_000_060_000, &data).expect("decode"),
        vec![wardwatch_core::store::numerics::NumSample {
            ts_ms: 1_764_000_060_000,
            value: Some(88.0),
            device: Some(3),
        }],
        "the sample, its value and its device kept"
    );
    // The audit log is still append-only after the upgrade.
    assert!(conn.execute("DELETE FROM audit_log", []).is_err());
    // ECG blocks are still one per patient, lead and start (migration 28
    // keyed them by their second first).
    let again = conn.execute(
        "INSERT INTO ecg_blocks (patient_id, lead, start_ms, period_ns, n_samples, origin_mv,
           factor_mv, encoding, data)
         VALUES (7, 131329, 1764000000000, 4000000, 1, 0, 0.005, 1, x'01')",
        [],
    );
    assert!(
        again.is_err_and(|e| e.to_string().contains("UNIQUE")),
        "a second block at the same start is refused"
    );

    assert_eq!(schema(&conn), schema(&fresh));
}

#[test]
fn stores_made_by_builds_that_edited_migration_1_open_at_the_version_they_hold() {
    let fresh_dir = crate::private_tempdir();
    let fresh = fresh_store(fresh_dir.path());
    let (latest_version, latest_schema) = (version(&fresh), schema(&fresh));
    for (commit, migration_1, held) in EDITED {
        let dir = crate::private_tempdir();
        let conn = store_made_by(dir.path(), migration_1);
        conn.execute(
            "INSERT INTO patients (mrn, family_name, given_name, birth_date, sex,
                created_ms, updated_ms)
             VALUES ('MRN-1', 'Ng', 'Lin', '1961-01-01', 'male', 0, 0)",
            [],
        )
        .expect("a patient");
        drop(conn);

        let admin = ctx(dir.path(), "admin");
        assert_eq!(
            api::show_patient(&admin, "MRN-1")
                .expect("the patient")
                .record
                .family_name,
            "Ng",
            "store made by {commit}"
        );
        drop(admin);
        let conn = wardwatch_core::store::cipher::connect(dir.path()).expect("reopen");
        assert_eq!(
            version(&conn),
            latest_version,
            "store made by {commit} (held {held})"
        );
        assert_eq!(schema(&conn), latest_schema, "store made by {commit}");
    }
}

#[test]
fn an_alarm_state_the_new_check_refuses_stops_the_upgrade_at_version_2_with_the_row_kept() {
    let dir = crate::private_tempdir();
    let conn = store_made_by(dir.path(), FIRST);
    fill_first_schema(&conn);
    // The first schema had no CHECK on an alarm's state; migration 3 has.
    conn.execute("UPDATE alarms SET state = 'snoozed'", [])
        .expect("an odd state");
    drop(conn);

    let err =
        Ctx::open(dir.path(), &crate::keys(), "admin", clock()).expect_err("the upgrade fails");
    assert_eq!(err.kind(), ErrorKind::Storage, "{err}");
    let conn = wardwatch_core::store::cipher::connect(dir.path()).expect("reopen");
    // Each migration is its own transaction: 2 committed, 3 rolled back whole.
    assert_eq!(version(&conn), 2);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM alarms WHERE condition = 'hr_high' AND state = 'snoozed'"
        ),
        1,
        "alarms is still the first schema's table, with its row"
    );
}

#[test]
fn an_upgrade_that_would_leave_a_dangling_reference_leaves_the_store_as_it_was() {
    let dir = crate::private_tempdir();
    let conn = store_made_by(dir.path(), FIRST);
    fill_first_schema(&conn);
    // A block of no patient, which only a connection with foreign keys off
    // can write. Migrations run with foreign keys off too (a rebuild drops a
    // table others refer to): the check before each commit is what refuses
    // to commit migration 2's copy of it.
    conn.pragma_update(None, "foreign_keys", "OFF")
        .expect("foreign keys off");
    conn.execute("UPDATE ecg_blocks SET patient_id = 99", [])
        .expect("a block of no patient");
    drop(conn);

    let err =
        Ctx::open(dir.path(), &crate::keys(), "admin", clock()).expect_err("the upgrade fails");
    assert!(err.to_string().contains("ecg_blocks"), "{err}");
    let conn = wardwatch_core::store::cipher::connect(dir.path()).expect("reopen");
    assert_eq!(version(&conn), 1);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM pragma_table_info('ecg_blocks') WHERE name = 'fs_hz'"
        ),
        1
    );
}
