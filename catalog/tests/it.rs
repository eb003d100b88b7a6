//! The catalogue after a synced, simulated week of two wards (with
//! malformed records and one schema change of a curated table): the
//! documented example searches return exactly the right entries, before
//! and after the index is lost or corrupted and rebuilt from the store.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use wardwatch_catalog::{Catalog, Error, manifest, matched_columns, refresh};
use wardwatch_core::clock::FixedClock;
use wardwatch_core::model::ScoreDetail;
use wardwatch_core::model::patient::Carried;
use wardwatch_core::store::lake::LakeTarget;
use wardwatch_core::store::{AuditEntry, IngestBatch, IngestItem, ScoreRow, Store};
use wardwatch_sync::curated::{Curator, TABLES, TableDef};
use wardwatch_sync::{Engine, Rules, Target};

/// Thursday 26 February 2026, 00:00 UTC: the week runs into March.
fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 26, 0, 0, 0)
        .single()
        .expect("time")
}

const DAYS: i64 = 7;

fn private_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .expect("temp dir")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// 30 patients on "Ward 1" (24) and "Ward 2" (6); HR every 30 minutes for a
/// week, two malformed records a day, ECG heart-rate scores hourly. The
/// patients' MRNs and names.
fn week(dir: &Path) -> Vec<(String, String)> {
    let mut store = Store::create_dir(dir).expect("store");
    store
        .attach_audit_keys(&wardwatch_core::store::AuditKeys::in_dir(
            dir.join(".audit-keys"),
        ))
        .expect("audit keys");
    let records = wardwatch_core::demo::registry(30, 3, start().date_naive());
    let people = records
        .iter()
        .map(|r| (r.mrn.clone(), r.family_name.clone()))
        .collect();
    let carried: Vec<_> = records.into_iter().map(|r| (r, Carried::ALL)).collect();
    let audit = AuditEntry {
        at: start(),
        actor: "admin".into(),
        action: "patients.import".into(),
        target: None,
        detail: json!({}),
    };
    store
        .upsert_patients(&carried, &audit, start() - Duration::hours(1))
        .expect("patients");
    let mrns: Vec<String> = carried.iter().map(|(r, _)| r.mrn.clone()).collect();
    let mut seq = 0;
    for half_hour in 0..DAYS * 48 {
        let at = start() + Duration::minutes(30 * half_hour);
        let mut items = Vec::new();
        for mrn in &mrns {
            seq += 1;
            let obs = json!({"resourceType": "Observation", "id": format!("o{seq}"), "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                "subject": {"identifier": {"value": mrn}},
                "effectiveDateTime": at.to_rfc3339(),
                "valueQuantity": {"value": 60 + seq % 40, "code": "/min"}});
            items.push(IngestItem::decode(
                seq.to_string(),
                obs.to_string().into_bytes(),
                at + Duration::seconds(1),
            ));
        }
        if half_hour % 48 == 5 {
            for bad in [
                &b"{not json"[..],
                br#"{"resourceType":"Observation","id":"x"}"#,
            ] {
                seq += 1;
                items.push(IngestItem::decode(
                    seq.to_string(),
                    bad.to_vec(),
                    at + Duration::seconds(1),
                ));
            }
        }
        let batch = IngestBatch {
            source: "gateway".into(),
            shard: "0".into(),
            items,
            ordered: true,
        };
        store
            .store_batch(&batch, at + Duration::seconds(1))
            .expect("batch");
        if half_hour % 2 == 0 {
            for mrn in &mrns {
                store
                    .insert_score(&ScoreRow {
                        mrn: mrn.clone(),
                        at,
                        value: 70.0,
                        score: ScoreDetail::EcgHr { lead: 131330 },
                    })
                    .expect("score");
            }
        }
    }
    people
}

/// The searches of docs/catalog.md, each with the ids it returns (sorted).
const EXAMPLES: [&str; 6] = [
    "zone:curated dataset:vitals_minute kind:partition ward:\"Ward 2\" date:2026-03",
    "kind:object zone:raw archive_state:archived",
    "kind:schema version:>1 created:2026",
    "kind:dataset column:spo2",
    "quarantine",
    "tag:identifiable kind:dataset",
];

fn ids(c: &Catalog, q: &str) -> BTreeSet<String> {
    let found = c.search(q, 10_000, false).expect(q);
    assert_eq!(found.total, found.hits.len(), "{q}: every hit returned");
    found.hits.into_iter().map(|h| h.id).collect()
}

fn all_results(c: &Catalog) -> Vec<BTreeSet<String>> {
    EXAMPLES.iter().map(|q| ids(c, q)).collect()
}

#[test]
fn a_synced_week_is_found_by_the_documented_searches_before_and_after_a_reindex() {
    let home = private_tempdir();
    let dir = home.path().join("data");
    let lake = home.path().join("lake");
    std::fs::create_dir_all(&lake).expect("lake dir");
    let people = week(&dir);
    let rt = rt();
    let mut store = Store::open_dir(&dir).expect("store");
    store
        .add_lake_target(&LakeTarget::folder("lake", &lake, start(), "admin"))
        .expect("target");
    let target = rt
        .block_on(Target::open(
            &store.lake_targets().expect("targets")[0],
            None,
        ))
        .expect("target");

    // Days 1-3 curated by a version of Wardwatch whose `scores` table
    // lacked its last column.
    let scores = TABLES.iter().find(|t| t.name == "scores").expect("scores");
    let old: TableDef = scores.first_columns(scores.width() - 1);
    let tables: Vec<&TableDef> = TABLES
        .iter()
        .map(|t| if t.name == "scores" { &old } else { *t })
        .collect();
    let day3 = start() + Duration::days(3);
    let target = Arc::new(target);
    let curator = Curator::new(target.clone());
    rt.block_on(curator.curate_tables(&mut store, &tables, day3, day3))
        .expect("old curation");
    let first = refresh(&mut store, &dir, "sync", day3).expect("refresh");
    assert!(first.built, "the first refresh builds the index");
    let before = store
        .catalog_entry("dataset:curated/scores")
        .expect("read")
        .expect("scores");
    assert_eq!(before.schema_version, Some(1));
    // A manifest per dataset in the lake, for tools outside Wardwatch.
    let written = rt
        .block_on(manifest::publish(&store, &target, day3))
        .expect("manifests");
    assert_eq!(written, 8, "3 object datasets and 5 curated tables");
    drop(store);

    // The rest of the week by this version: objects sealed and synced, the
    // scores table's schema evolved.
    let end = start() + Duration::days(DAYS) + Duration::hours(1);
    let store = Store::open_dir(&dir).expect("store");
    let rules = Rules::from_settings(&store).expect("rules");
    let target = rt
        .block_on(Target::open(
            &store.lake_targets().expect("targets")[0],
            None,
        ))
        .expect("target");
    let mut engine = Engine::new(store, target, rules, Arc::new(FixedClock(end)));
    for _ in 0..4 {
        let pass = rt.block_on(engine.pass(true, &mut |_| {})).expect("pass");
        assert!(pass.failure.is_none(), "{:?}", pass.failure);
    }
    // Three years on: the first days' raw and cleaned objects are archived.
    let later = start() + Duration::days(1095 + 2) + Duration::hours(12);
    let r = refresh(engine.store_mut(), &dir, "sync", later).expect("refresh");
    assert!(!r.built && r.indexed > 0 && r.store.changed() > 0);
    let store = engine.store();
    let c = Catalog::open(&Catalog::dir_of(&dir)).expect("index");
    assert_eq!(c.len() as i64, store.catalog_len().expect("len"));

    // 1. Curated vitals of Ward 2 in March: the four March days.
    let march: BTreeSet<String> = (1..=4)
        .map(|d| format!("partition:curated/vitals_minute/date=2026-03-{d:02}"))
        .collect();
    let got = all_results(&c);
    assert_eq!(got[0], march);
    // 2. Every archived raw object: those of the first three days (1,095
    //    days after them).
    let objects = store.lake_objects("raw/").expect("objects");
    assert!(objects.iter().all(|o| o.synced), "all synced");
    let archived: BTreeSet<String> = objects
        .iter()
        .filter(|o| o.day.as_str() < "2026-03-01")
        .map(|o| format!("object:{}", o.key))
        .collect();
    assert!(!archived.is_empty() && archived.len() < objects.len());
    assert_eq!(got[1], archived);
    // 3. Datasets whose schema changed this year: scores' second version,
    //    with its change.
    assert_eq!(
        got[2],
        BTreeSet::from(["schema:curated/scores@2".to_owned()])
    );
    let v2 = store
        .catalog_entry("schema:curated/scores@2")
        .expect("read")
        .expect("v2");
    assert_eq!(v2.changes, ["added complete boolean"]);
    assert_ne!(v2.fingerprint, before.fingerprint);
    assert!(
        !v2.snapshots.is_empty(),
        "tied to the snapshots written with it"
    );
    // 4. Which tables have a spo2 column: patients (spo2_scale), shown.
    assert_eq!(
        got[3],
        BTreeSet::from(["dataset:curated/patients".to_owned()])
    );
    let found = c.search(EXAMPLES[3], 10, false).expect("search");
    let patients = store
        .catalog_entry("dataset:curated/patients")
        .expect("read")
        .expect("patients");
    let shown: Vec<&str> = matched_columns(&patients, &found.column_terms)
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(shown, ["spo2_scale"]);
    // 5. Full text: the quarantine's dataset, schema, partitions, objects.
    let quarantine = store.lake_objects("cleaned/quarantine/").expect("q");
    assert_eq!(quarantine.iter().map(|o| o.records).sum::<i64>(), 2 * DAYS);
    assert!(got[4].contains("dataset:cleaned/quarantine"));
    for o in &quarantine {
        assert!(got[4].contains(&format!("object:{}", o.key)));
    }
    // A prefix finds the same and more; a keyword prefix finds exactly the
    // quarantine's objects by their keys.
    assert!(ids(&c, "quarant*").is_superset(&got[4]));
    let keys: BTreeSet<String> = quarantine
        .iter()
        .map(|o| format!("object:{}", o.key))
        .collect();
    assert_eq!(ids(&c, "id:object:cleaned/quarantine/*"), keys);
    assert!(
        c.search("spo-2*", 10, false).is_err(),
        "a prefix is one word"
    );
    // A query of fields only has no words to rank by: newest first.
    let newest = c.search("kind:object", 5, false).expect("objects");
    let modified: Vec<_> = newest
        .hits
        .iter()
        .map(|h| {
            store
                .catalog_entry(&h.id)
                .expect("entry")
                .expect("known")
                .modified
        })
        .collect();
    assert_eq!(modified.len(), 5);
    assert!(modified.iter().all(Option::is_some), "{modified:?}");
    assert!(modified.windows(2).all(|w| w[0] >= w[1]), "{modified:?}");
    let all_modified: Vec<_> = ids(&c, "kind:object")
        .iter()
        .map(|id| {
            store
                .catalog_entry(id)
                .expect("entry")
                .expect("known")
                .modified
        })
        .collect();
    assert_eq!(
        modified[0],
        all_modified.into_iter().max().flatten(),
        "the newest first"
    );
    // 6. The datasets that name patients.
    assert_eq!(
        got[5],
        BTreeSet::from(
            [
                "dataset:cleaned/observations",
                "dataset:cleaned/quarantine",
                "dataset:raw/observations"
            ]
            .map(str::to_owned)
        )
    );

    // Facets: counts by zone and kind over a query's matches.
    let f = c
        .search("zone:raw", 1, true)
        .expect("facets")
        .facets
        .expect("asked");
    let kinds = &f.counts["kind"];
    let n = |k: &str| kinds.iter().find(|(v, _)| v == k).map_or(0, |(_, n)| *n);
    assert_eq!(n("object"), objects.len() as u64);
    assert_eq!((n("dataset"), n("schema")), (1, 1));
    assert_eq!(f.counts["date"].len(), DAYS as usize, "a bucket per day");

    // History: what the scores dataset looked like before the change.
    let history = store
        .catalog_history("dataset:curated/scores")
        .expect("history");
    assert_eq!(
        history
            .first()
            .and_then(|v| v.entry.as_ref()?.schema_version),
        Some(1)
    );
    assert_eq!(
        history
            .last()
            .and_then(|v| v.entry.as_ref()?.schema_version),
        Some(2)
    );

    // No patient's name or MRN anywhere in the catalogue.
    let mut bodies = String::new();
    store
        .catalog_each(|e| bodies.push_str(&serde_json::to_string(&e).expect("json")))
        .expect("entries");
    for (mrn, name) in &people {
        assert!(!bodies.contains(mrn.as_str()), "MRN {mrn} in the catalogue");
        assert!(!bodies.contains(name.as_str()), "a name in the catalogue");
    }

    // As it was: the scores dataset on day 3 had schema 1.
    let then = store
        .catalog_entry_at("dataset:curated/scores", day3 + Duration::minutes(1))
        .expect("history")
        .and_then(|v| v.entry)
        .expect("existed");
    assert_eq!(then.schema_version, Some(1));

    // Manifests: only the scores table's changed (its schemas), so only it
    // has a second; each names every schema version.
    let (store, target) = engine.parts();
    let written = rt
        .block_on(manifest::publish(store, target, later))
        .expect("manifests");
    assert_eq!(written, 1);
    let dir_of = |d: &str| {
        let mut v: Vec<_> = std::fs::read_dir(lake.join("_catalog").join(d))
            .expect("manifests")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(dir_of("curated/patients").len(), 1);
    let scores_manifests = dir_of("curated/scores");
    assert_eq!(scores_manifests.len(), 2);
    assert!(
        scores_manifests[1].starts_with("v000002-"),
        "{scores_manifests:?}"
    );
    let m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            lake.join("_catalog/curated/scores")
                .join(&scores_manifests[1]),
        )
        .expect("manifest"),
    )
    .expect("json");
    assert_eq!(m["iceberg"], "wardwatch.scores");
    assert_eq!(m["schemas"].as_array().map(Vec::len), Some(2));
    assert_eq!(m["schemas"][1]["changes"][0], "added complete boolean");
    assert_eq!(
        rt.block_on(manifest::publish(store, target, later))
            .expect("again"),
        0,
        "nothing changed, nothing written"
    );
    let store = engine.store();

    // Lost: a clear error, then a rebuild gives the same answers.
    let index_dir = Catalog::dir_of(&dir);
    drop(c);
    std::fs::remove_dir_all(&index_dir).expect("lose the index");
    let e = Catalog::open(&index_dir).expect_err("no index");
    assert!(matches!(e, Error::Index { .. }), "{e}");
    assert!(e.to_string().contains("catalog reindex"), "{e}");
    let rebuilt = Catalog::rebuild(&index_dir, store, &mut |_, _| {}).expect("rebuild");
    assert_eq!(all_results(&rebuilt), got);
    drop(rebuilt);

    // Corrupted: the same.
    std::fs::write(index_dir.join("meta.json"), b"{ garbage").expect("corrupt");
    let e = Catalog::open(&index_dir).expect_err("corrupt index");
    assert!(e.to_string().contains("catalog reindex"), "{e}");
    let e = refresh(engine.store_mut(), &dir, "sync", later).expect_err("refresh");
    assert!(
        matches!(e, Error::Index { .. }),
        "never rebuilt silently: {e}"
    );
    let rebuilt = Catalog::rebuild(&index_dir, engine.store(), &mut |_, _| {}).expect("rebuild");
    assert_eq!(all_results(&rebuilt), got);
    drop(rebuilt);

    // Another version's index (another schema): an upgrade, so the
    // runtime's refresh rebuilds it; a search by hand names the fix.
    std::fs::remove_dir_all(&index_dir).expect("remove");
    std::fs::create_dir_all(&index_dir).expect("mkdir");
    let mut old = tantivy::schema::Schema::builder();
    old.add_text_field("id", tantivy::schema::STRING | tantivy::schema::STORED);
    tantivy::Index::create_in_dir(&index_dir, old.build()).expect("an older index");
    let e = Catalog::open(&index_dir).expect_err("another version");
    assert!(matches!(e, Error::OtherVersion { .. }), "{e}");
    assert!(e.to_string().contains("catalog reindex"), "{e}");
    let r = refresh(engine.store_mut(), &dir, "sync", later).expect("an upgrade rebuilds");
    assert!(r.built);
    assert_eq!(all_results(&Catalog::open(&index_dir).expect("open")), got);
}

/// Every facet counts what a plain count over the entries gives: single
/// values, several wards and tags per entry, absent values, numbers.
#[test]
fn facets_count_every_field_exactly() {
    use wardwatch_core::store::catalog::{CatalogEntry, EntryKind};
    let dir = tempfile::tempdir().expect("tmp");
    let c = Catalog::create(&dir.path().join("index")).expect("index");
    let wards = ["Ward 1", "Ward 2", "Cardio A"];
    let entries: Vec<CatalogEntry> = (0..300)
        .map(|i: usize| CatalogEntry {
            id: format!("object:e{i}"),
            kind: if i.is_multiple_of(3) {
                EntryKind::Partition
            } else {
                EntryKind::Object
            },
            zone: ["raw", "cleaned", "curated"][i % 3].into(),
            dataset: ["observations", "scores"][i % 2].into(),
            name: format!("e{i}"),
            wards: (0..i % 3).map(|w| wards[(i + w) % 3].to_owned()).collect(),
            tags: (0..i % 4).map(|t| format!("tag{t}")).collect(),
            storage_class: (!i.is_multiple_of(5))
                .then(|| ["STANDARD", "GLACIER"][i % 2].to_owned()),
            archive_state: (!i.is_multiple_of(7)).then(|| "hot".to_owned()),
            sync_state: Some(["synced", "pending"][usize::from(i.is_multiple_of(11))].to_owned()),
            schema_version: i.is_multiple_of(2).then_some(1 + (i % 3) as i64),
            date: Some(format!("2026-03-{:02}", 1 + i % 28)),
            ..CatalogEntry::default()
        })
        .collect();
    c.add_all(&entries, 1, &mut |_| {}).expect("add");
    let found = c.search("", 10, true).expect("search");
    assert_eq!(found.total, entries.len());
    let f = found.facets.expect("facets").counts;
    let expect = |values: &mut dyn Iterator<Item = String>| {
        let mut m: std::collections::BTreeMap<String, u64> = Default::default();
        for v in values {
            *m.entry(v).or_insert(0) += 1;
        }
        m
    };
    let got = |name: &str| -> std::collections::BTreeMap<String, u64> {
        f[name].iter().cloned().collect()
    };
    let each =
        |pick: &dyn Fn(&CatalogEntry) -> Vec<String>| expect(&mut entries.iter().flat_map(pick));
    assert_eq!(got("kind"), each(&|e| vec![e.kind.as_str().to_owned()]));
    assert_eq!(got("zone"), each(&|e| vec![e.zone.clone()]));
    assert_eq!(got("dataset"), each(&|e| vec![e.dataset.clone()]));
    assert_eq!(got("ward"), each(&|e| e.wards.clone()));
    assert_eq!(got("tag"), each(&|e| e.tags.clone()));
    assert_eq!(
        got("storage_class"),
        each(&|e| e.storage_class.iter().cloned().collect())
    );
    assert_eq!(
        got("archive_state"),
        each(&|e| e.archive_state.iter().cloned().collect())
    );
    assert_eq!(
        got("sync_state"),
        each(&|e| e.sync_state.iter().cloned().collect())
    );
    assert_eq!(
        got("version"),
        each(&|e| e.schema_version.iter().map(|v| v.to_string()).collect())
    );
    assert_eq!(got("date").len(), 28);
    // A filter counts its matches only.
    let ward2 = c.search("ward:\"Ward 2\"", 10, true).expect("search");
    let n = entries
        .iter()
        .filter(|e| e.wards.iter().any(|w| w == "Ward 2"))
        .count() as u64;
    assert_eq!(ward2.total as u64, n);
    let f2 = ward2.facets.expect("facets").counts;
    assert_eq!(
        f2["ward"].iter().find(|(w, _)| w == "Ward 2").map(|p| p.1),
        Some(n)
    );
}
