//! The role matrix: every API call (the front ends' only way in) tried by a
//! user of every role, and the outcome compared with the matrix documented
//! in SECURITY.md. A refused call is `PermissionDenied` and leaves an
//! `access.denied` entry in the audit trail; an allowed call may still
//! fail for its input (an unknown alarm, a missing file), never for the
//! role.

use std::collections::BTreeMap;

use chrono::Duration;
use wardwatch_core::ErrorKind;
use wardwatch_core::alarms::{Annotation, LimitEdit, Priority};
use wardwatch_core::api::{self, Ctx, TargetSpec};
use wardwatch_core::ingest::source::SourceConfig;
use wardwatch_core::messages::{MessageDestination, PatientMessage};
use wardwatch_core::model::Vital;
use wardwatch_core::store::Role;

use crate::{clock, keys, private_tempdir};

const ROLES: [Role; 4] = [Role::Data, Role::Viewer, Role::Clinician, Role::Admin];

type Call = fn(&mut Ctx, &Fixture) -> Result<(), wardwatch_core::Error>;

struct Fixture {
    mrn: String,
    dir: std::path::PathBuf,
}

fn ok<T>(r: wardwatch_core::Result<T>) -> wardwatch_core::Result<()> {
    r.map(|_| ())
}

/// Every call that takes a `Ctx`, in the order they are tried. Calls that
/// change something change it harmlessly (and are undone by a later call
/// where they add something).
fn calls() -> Vec<(&'static str, Call)> {
    vec![
        ("list_patients", |c, _| ok(api::list_patients(c))),
        ("show_patient", |c, f| ok(api::show_patient(c, &f.mrn))),
        ("import_patients", |c, f| {
            ok(api::import_patients(c, &f.dir.join("no-such.csv")))
        }),
        ("load_demo_ward", |c, _| ok(api::load_demo_ward(c, 3))),
        ("check_store", |c, _| ok(api::check_store(c, false))),
        ("store_space", |c, _| ok(api::store_space(c))),
        ("backup_store", |c, f| {
            let dest = f.dir.join(format!("backup-{}.db", c.actor.username));
            ok(api::backup_store(c, &dest))
        }),
        ("settings", |c, _| ok(api::settings(c))),
        ("set_setting", |c, _| {
            api::set_setting(c, "retention.ecg_hours", Some("72"))
        }),
        ("devices", |c, _| ok(api::devices(c))),
        ("device_history", |c, _| {
            ok(api::device_history(c, "no-such-device"))
        }),
        ("move_device_data", |c, f| {
            let now = c.clock.now();
            ok(api::move_device_data(
                c,
                &wardwatch_core::store::devices::DataMove {
                    device: "no-such-device",
                    from_mrn: &f.mrn,
                    to_mrn: &f.mrn,
                    since: now - Duration::minutes(10),
                    until: now,
                },
            ))
        }),
        ("put_user", |c, _| {
            api::put_user(c, "matrix.user", Role::Viewer)
        }),
        ("set_user_active", |c, _| {
            api::set_user_active(c, "matrix.user", true)
        }),
        ("list_users", |c, _| ok(api::list_users(c))),
        ("set_password", |c, _| {
            api::set_password(c, "matrix.user", "a matrix of passwords")
        }),
        ("change_password", |c, _| {
            api::change_password(c, "not the current one", "a matrix of passwords")
        }),
        ("logout", |c, _| api::logout(c, "no-such-session")),
        ("check_session", |c, _| {
            api::check_session(c, "no-such-session")
        }),
        ("session_expires", |c, _| {
            ok(api::session_expires(c, "no-such-session"))
        }),
        ("plan_lake_history", |c, f| {
            let now = c.clock.now();
            api::plan_lake_history(c, &f.mrn, now - Duration::hours(1), now)
        }),
        ("history_from_lake", |c, f| {
            let now = c.clock.now();
            ok(api::history_from_lake(
                c,
                &f.mrn,
                now - Duration::hours(1),
                now,
                100,
                &[],
            ))
        }),
        ("ward_rules", |c, _| ok(api::ward_rules(c))),
        ("set_ward_rules", |c, _| {
            api::set_ward_rules(c, &wardwatch_core::alarms::Rules::default())
        }),
        ("recent_audit", |c, _| ok(api::recent_audit(c, 5))),
        ("verify_audit", |c, _| ok(api::verify_audit(c))),
        ("verify_audit_with", |c, _| {
            ok(api::verify_audit_with(c, &[]))
        }),
        ("audit_chain", |c, _| ok(api::audit_chain(c))),
        ("runtime_start", |c, _| api::runtime_start(c, "matrix")),
        ("runtime_stop", |c, _| api::runtime_stop(c, "stopped")),
        ("put_source", |c, _| {
            api::put_source(
                c,
                &SourceConfig::Sse {
                    name: "matrix".into(),
                    url: "http://127.0.0.1:9/stream".into(),
                },
            )
        }),
        ("list_sources", |c, _| ok(api::list_sources(c))),
        ("remove_source", |c, _| api::remove_source(c, "matrix")),
        ("ingest_status", |c, _| ok(api::ingest_status(c))),
        ("quarantine", |c, _| ok(api::quarantine(c, 5))),
        ("ward_live", |c, _| ok(api::ward_live(c))),
        ("ward_trends", |c, _| ok(api::ward_trends(c, 60))),
        ("patient_history", |c, f| {
            let now = c.clock.now();
            ok(api::patient_history(
                c,
                &f.mrn,
                now - Duration::days(365),
                now,
                500,
            ))
        }),
        ("export_history", |c, f| {
            let now = c.clock.now();
            ok(api::export_history(
                c,
                &f.mrn,
                now - Duration::days(1),
                now,
                100,
            ))
        }),
        ("chart_observations", |c, f| {
            let chart = api::Chart {
                consciousness: Some("A".into()),
                ..api::Chart::default()
            };
            ok(api::chart_observations(c, &f.mrn, &chart))
        }),
        ("charted_observations", |c, f| {
            ok(api::charted_observations(c, &f.mrn, 24))
        }),
        ("backfill_demo_history", |c, _| {
            ok(api::backfill_demo_history(c, 1, 1, 0))
        }),
        ("patient_live", |c, f| ok(api::patient_live(c, &f.mrn))),
        ("ecg_strip", |c, f| ok(api::ecg_strip(c, &f.mrn, 10))),
        ("list_alarms", |c, _| ok(api::list_alarms(c, false))),
        ("list_alarms_up_to", |c, _| {
            ok(api::list_alarms_up_to(c, false, 10_000))
        }),
        ("locked_overview", |c, _| ok(api::locked_overview(c))),
        ("ensure_demo_accounts", |c, _| api::ensure_demo_accounts(c)),
        ("ack_alarm", |c, _| ok(api::ack_alarm(c, 999_999, None))),
        ("resolve_alarm", |c, _| ok(api::resolve_alarm(c, 999_999))),
        ("annotate_alarm", |c, _| {
            ok(api::annotate_alarm(c, 999_999, Annotation::True))
        }),
        ("silence_patient", |c, f| {
            api::silence_patient(c, &f.mrn, 1, Priority::Low)
        }),
        ("set_alarm_limit", |c, f| {
            ok(api::set_alarm_limit(
                c,
                &f.mrn,
                Vital::HeartRate,
                LimitEdit::Keep,
                LimitEdit::Keep,
            ))
        }),
        ("alarm_limits", |c, f| ok(api::alarm_limits(c, &f.mrn))),
        ("notify_patient", |c, _| {
            ok(api::notify_patient(c, 999_999, "x"))
        }),
        ("messaging_configured", |c, _| {
            ok(api::messaging_configured(c))
        }),
        ("configure_messages", |c, _| {
            api::configure_messages(
                c,
                &MessageDestination {
                    endpoint: "http://127.0.0.1:9".into(),
                    stream: "patient-messages".into(),
                    region: "eu-west-2".into(),
                    credentials: "env:MATRIX".into(),
                    ca_bundle: None,
                },
            )
        }),
        ("list_messages", |c, _| ok(api::list_messages(c))),
        ("configured_source_count", |c, _| {
            ok(api::configured_source_count(c))
        }),
        ("messages_due", |c, _| ok(api::messages_due(c))),
        ("record_message_delivery", |c, f| {
            let now = c.clock.now();
            let m = PatientMessage {
                id: 999_999,
                mrn: f.mrn.clone(),
                alarm_id: None,
                sent_by: "x".into(),
                message: "x".into(),
                state: "queued".into(),
                created: now,
                updated: now,
                attempts: 0,
                sequence: None,
                last_error: None,
            };
            api::record_message_delivery(c, &m, Err("unreachable"))
        }),
        ("lake_targets", |c, _| ok(api::lake_targets(c))),
        ("add_lake_target", |c, _| {
            api::add_lake_target(
                c,
                &TargetSpec {
                    name: "matrix".into(),
                    url: "s3://matrix-bucket/prefix".into(),
                    ..TargetSpec::default()
                },
            )
        }),
        ("remove_lake_target", |c, _| {
            api::remove_lake_target(c, "matrix")
        }),
        ("lake_status", |c, _| ok(api::lake_status(c))),
        ("authorize_sync", |c, _| api::authorize_sync(c, false)),
        ("authorize_catalog search", |c, _| {
            api::authorize_catalog(c, "search", serde_json::json!({}))
        }),
        ("authorize_catalog annotate", |c, _| {
            api::authorize_catalog(c, "annotate", serde_json::json!({}))
        }),
        ("authorize_archive show", |c, _| {
            api::authorize_archive(c, "show", None)
        }),
        ("authorize_archive apply", |c, _| {
            api::authorize_archive(c, "apply", None)
        }),
        ("authorize_archive restore", |c, _| {
            api::authorize_archive(c, "restore", Some("raw/x"))
        }),
        ("set_user_service", |c, _| {
            api::set_user_service(c, "no-such-user", false)
        }),
        ("store_key_id", |c, _| ok(api::store_key_id(c))),
        ("store_keys", |c, _| ok(api::store_keys(c))),
        ("record_key_move", |c, _| {
            api::record_key_move(c, "keys.to_folder", &[])
        }),
        ("restore_store", |_, _| Ok(())),
        ("rekey_store", |_, _| Ok(())),
    ]
}

/// The matrix as SECURITY.md documents it: call → allowed per role.
fn documented() -> BTreeMap<String, [bool; 4]> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../SECURITY.md"))
        .expect("SECURITY.md");
    let start = doc
        .find("<!-- role-matrix -->")
        .expect("the matrix's start marker");
    let end = doc
        .find("<!-- /role-matrix -->")
        .expect("the matrix's end marker");
    doc[start..end]
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            let name = cells[0].trim_matches('`').to_owned();
            let mut allowed = [false; 4];
            for (i, a) in allowed.iter_mut().enumerate() {
                *a = cells[i + 1] == "✓";
            }
            (name, allowed)
        })
        .collect()
}

fn row(name: &str, allowed: [bool; 4]) -> String {
    let cells: Vec<&str> = allowed.iter().map(|a| if *a { "✓" } else { "–" }).collect();
    format!("| `{name}` | {} |", cells.join(" | "))
}

#[test]
fn every_call_for_every_role_matches_the_documented_matrix() {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    let mut admin = Ctx::create(&data, &keys(), "admin", clock()).expect("store");
    api::load_demo_ward(&mut admin, 3).expect("demo");
    let mrn = api::list_patients(&admin).expect("list")[0].mrn.clone();
    let names = ["r.data", "r.viewer", "r.clinician", "r.admin"];
    for (name, role) in names.iter().zip(ROLES) {
        api::put_user(&admin, name, role).expect("user");
    }
    let fixture = Fixture {
        mrn,
        dir: dir.path().to_owned(),
    };
    let calls = calls();
    let mut observed: BTreeMap<String, [bool; 4]> = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let mut ctx = Ctx::open(&data, &keys(), name, clock()).expect("open");
        for (call, f) in &calls {
            let allowed = if *call == "restore_store" {
                // Takes the context; a missing backup fails after the check.
                let c = Ctx::open(&data, &keys(), name, clock()).expect("open");
                let r = api::restore_store(c, &dir.path().join("no-such-backup.db"));
                !matches!(&r, Err(e) if e.kind() == ErrorKind::PermissionDenied)
            } else if *call == "rekey_store" {
                // Takes the context; encrypting an encrypted store is
                // refused after the check, changing nothing.
                let c = Ctx::open(&data, &keys(), name, clock()).expect("open");
                let r = api::rekey_store(c, false, None);
                !matches!(&r, Err(e) if e.kind() == ErrorKind::PermissionDenied)
            } else {
                let r = f(&mut ctx, &fixture);
                !matches!(&r, Err(e) if e.kind() == ErrorKind::PermissionDenied)
            };
            observed.entry((*call).to_owned()).or_default()[i] = allowed;
        }
    }
    // Every refusal is in the trail, under the user refused.
    let trail = api::recent_audit(&admin, 10_000).expect("audit");
    for (i, name) in names.iter().enumerate() {
        let refused = observed.values().filter(|a| !a[i]).count();
        let audited = trail
            .iter()
            .filter(|e| e.actor == *name && e.action == "access.denied")
            .count();
        assert!(
            refused == 0 || audited > 0,
            "{name}: {refused} refusals, none audited"
        );
    }
    let table: Vec<String> = observed.iter().map(|(n, a)| row(n, *a)).collect();
    assert_eq!(
        documented(),
        observed,
        "SECURITY.md's role matrix differs from the code; as the code has it:\n{}",
        table.join("\n")
    );
    // Least privilege, spelled out: the data role reads no patient, and
    // only admins manage users, sources and the store.
    for call in [
        "list_patients",
        "show_patient",
        "ward_live",
        "ecg_strip",
        "list_alarms",
    ] {
        assert!(!observed[call][0], "data role may {call}");
    }
    for call in [
        "put_user",
        "set_user_active",
        "put_source",
        "backup_store",
        "restore_store",
        "rekey_store",
        "store_keys",
    ] {
        assert_eq!(observed[call], [false, false, false, true], "{call}");
    }
}
