//! What the lake's benches share: a private folder and a store holding the
//! demo registry's first `patients` patients.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::json;
use wardwatch_core::store::{AuditEntry, Store};

/// A temporary folder only the owner can enter (stores and lakes hold
/// patient data).
pub fn private_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .expect("temp dir")
}

/// A new store in `dir` with `patients` demo patients (seed 42), loaded at
/// `start`.
pub fn store_with_patients(dir: &Path, patients: usize, start: DateTime<Utc>) -> Store {
    let mut store = Store::create_dir(dir).expect("store");
    store
        .attach_audit_keys(&wardwatch_core::store::AuditKeys::in_dir(
            dir.join(".audit-keys"),
        ))
        .expect("audit keys");
    let registry: Vec<_> = wardwatch_core::demo::patients(patients, 42, start.date_naive())
        .into_iter()
        .map(|r| (r, wardwatch_core::model::Carried::ALL))
        .collect();
    let audit = AuditEntry {
        at: start,
        actor: "bench".into(),
        action: "bench.load".into(),
        target: None,
        detail: json!({}),
    };
    store
        .upsert_patients(&registry, &audit, start)
        .expect("patients");
    store
}
