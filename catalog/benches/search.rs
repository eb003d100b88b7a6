//! The catalogue at hospital scale: N entries (default 1,000,000) like
//! three years of a 40-ward lake's objects, partitions, schemas and
//! datasets; a fixed mix of 20 queries (text, field, range, facets) timed
//! on the tantivy index and, as the baseline measured in the same run, on
//! the best plain-SQLite design: one FTS5 table over the same text fields,
//! ordinary indexed columns for the field, range and facet parts
//! (docs/catalog.md). Also index size and build time, and the latency from
//! an entry written to the store to it being searchable.
//!
//! Each engine runs a query's repetitions back to back (as a search service
//! answers them); tantivy is then timed again alternating with FTS5, whose
//! scans leave the CPU caches cold, and that figure is printed too.
//!
//! `cargo bench -p wardwatch-catalog --bench search -- [N] [REPS]`
//! (`WARDWATCH_BENCH_TANTIVY_ONLY=1`: no baseline, for profiling;
//! `WARDWATCH_BENCH_FACETS_ONLY=1` with it: the facet queries only).

use std::collections::BTreeMap;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, TimeZone, Utc};
use rusqlite::Connection;
use wardwatch_catalog::Catalog;
use wardwatch_core::store::Store;
use wardwatch_core::store::catalog::{CatalogColumn, CatalogEntry, EntryKind};

const WARDS: usize = 40;
const DATASETS: [(&str, &str); 8] = [
    ("raw", "observations"),
    ("cleaned", "observations"),
    ("cleaned", "quarantine"),
    ("curated", "vitals_minute"),
    ("curated", "scores"),
    ("curated", "rhythm_findings"),
    ("curated", "alarms"),
    ("curated", "patients"),
];

fn origin() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .expect("t")
}

fn col(name: &str, ty: &str) -> CatalogColumn {
    CatalogColumn {
        name: name.into(),
        ty: ty.into(),
        required: false,
        doc: format!("the {name}"),
    }
}

/// The `i`th synthetic entry: 85 % objects, 14 % partitions, the rest
/// schemas and datasets; days over three years, forty wards.
fn entry(i: usize) -> CatalogEntry {
    let (zone, dataset) = DATASETS[i % DATASETS.len()];
    let day = origin() + Duration::days(((i / 7) % 1095) as i64);
    let date = day.format("%Y-%m-%d").to_string();
    let ward = format!("Ward {}", (i / 13) % WARDS + 1);
    let archived = zone != "curated" && day < origin() + Duration::days(365);
    let mut e = CatalogEntry {
        zone: zone.into(),
        dataset: dataset.into(),
        owner: Some("wardwatch".into()),
        tags: vec![
            zone.into(),
            if zone == "curated" {
                "pseudonymised"
            } else {
                "identifiable"
            }
            .into(),
        ],
        wards: vec![ward.clone()],
        date: Some(date.clone()),
        first: Some(day),
        last: Some(day + Duration::hours(23)),
        rows: Some(((i * 7919) % 200_000) as i64),
        bytes: Some(((i * 104_729) % 4_000_000) as i64),
        objects: Some(1),
        schema_version: Some(1 + (i.is_multiple_of(3) && zone == "curated") as i64),
        storage_class: Some(if archived { "GLACIER" } else { "STANDARD" }.into()),
        archive_state: Some(if archived { "archived" } else { "hot" }.into()),
        sync_state: Some(
            if i.is_multiple_of(997) {
                "pending"
            } else {
                "synced"
            }
            .into(),
        ),
        codec: Some(
            if zone == "curated" {
                "parquet+zstd"
            } else {
                "ndjson+zstd"
            }
            .into(),
        ),
        created: Some(day),
        modified: Some(day + Duration::hours(1)),
        ..CatalogEntry::default()
    };
    match i % 100 {
        0..85 => {
            let key = format!("{zone}/{dataset}/date={date}/ward={ward}/part-{i:012}.ndjson.zst");
            e.kind = EntryKind::Object;
            e.name = format!("part-{i:012}");
            e.description = format!("An object of {zone}/{dataset}");
            e.checksum = Some(format!("sha256:{i:064x}"));
            e.location = Some(format!("s3://hospital-lake/{key}"));
            e.id = format!("object:{key}");
            e.key = Some(key);
        }
        85..99 => {
            e.kind = EntryKind::Partition;
            e.id = format!("partition:{zone}/{dataset}/date={date}/ward={ward}/{i}");
            e.name = format!("{zone}/{dataset} {date} {ward}");
            e.description = format!("The {zone}/{dataset} data of {date}, partitioned by day");
            e.patients = (0..5)
                .map(|p| format!("{:032x}", (i * 31 + p) % 50_000))
                .collect();
        }
        _ => {
            let schema = i % 200 == 99;
            e.kind = if schema {
                EntryKind::Schema
            } else {
                EntryKind::Dataset
            };
            e.id = format!("{}:{zone}/{dataset}/{i}", e.kind.as_str());
            e.name = format!("{zone}/{dataset}");
            e.description = format!(
                "{dataset} for the cardiology research board{}",
                if i.is_multiple_of(3) {
                    ", with NEWS2 sub-scores"
                } else {
                    ""
                }
            );
            e.columns = vec![
                col("patient", "string"),
                col("ward", "string"),
                col("at", "timestamptz"),
            ];
            if dataset == "patients" {
                e.columns.push(col("spo2_scale", "int"));
            }
            if schema && e.schema_version == Some(2) {
                e.changes = vec!["added complete boolean".into()];
            }
        }
    }
    e
}

/// A query in both forms: tantivy's, and SQL (a WHERE over `entries` AS e,
/// with an FTS5 MATCH on `fts` where the query has text).
struct Q {
    tantivy: &'static str,
    fts: Option<&'static str>,
    filter: &'static str,
    facets: bool,
}

const QUERIES: [Q; 20] = [
    Q {
        tantivy: "spo2",
        fts: Some("spo2"),
        filter: "1",
        facets: false,
    },
    Q {
        tantivy: "column:spo2",
        fts: Some("column:spo2"),
        filter: "1",
        facets: false,
    },
    Q {
        tantivy: "kind:dataset column:patient",
        fts: Some("column:patient"),
        filter: "e.kind = 'dataset'",
        facets: false,
    },
    Q {
        tantivy: "zone:raw kind:object archive_state:archived",
        fts: None,
        filter: "e.zone = 'raw' AND e.kind = 'object' AND e.archive_state = 'archived'",
        facets: false,
    },
    Q {
        tantivy: "dataset:vitals_minute ward:\"Ward 7\" date:2026-03",
        fts: None,
        filter: "e.dataset = 'vitals_minute' AND e.ward = 'Ward 7' AND e.date_s >= 1772323200 AND e.date_s < 1775001600",
        facets: false,
    },
    Q {
        tantivy: "kind:partition date:2025-06-15",
        fts: None,
        filter: "e.kind = 'partition' AND e.date_s >= 1749945600 AND e.date_s < 1750032000",
        facets: false,
    },
    Q {
        tantivy: "rows:>100000 kind:partition zone:curated",
        fts: None,
        filter: "e.rows > 100000 AND e.kind = 'partition' AND e.zone = 'curated'",
        facets: false,
    },
    Q {
        tantivy: "bytes:[1000000 TO 2000000] zone:cleaned",
        fts: None,
        filter: "e.bytes >= 1000000 AND e.bytes <= 2000000 AND e.zone = 'cleaned'",
        facets: false,
    },
    Q {
        tantivy: "kind:schema version:>1 created:2026",
        fts: None,
        filter: "e.kind = 'schema' AND e.version > 1 AND e.created_s >= 1767225600 AND e.created_s < 1798761600",
        facets: false,
    },
    Q {
        tantivy: "\"research board\"",
        fts: Some("\"research board\""),
        filter: "1",
        facets: false,
    },
    Q {
        tantivy: "quarant*",
        fts: Some("quarant*"),
        filter: "1",
        facets: false,
    },
    Q {
        tantivy: "tag:identifiable kind:dataset",
        fts: None,
        filter: "e.kind = 'dataset' AND e.zone IN ('raw', 'cleaned')",
        facets: false,
    },
    Q {
        tantivy: "zone:curated AND (ward:\"Ward 3\" OR ward:\"Ward 4\") AND date:2026-02",
        fts: None,
        filter: "e.zone = 'curated' AND e.ward IN ('Ward 3', 'Ward 4') AND e.date_s >= 1769904000 AND e.date_s < 1772323200",
        facets: false,
    },
    Q {
        tantivy: "modified:>=2026-11 sync_state:pending",
        fts: None,
        filter: "e.modified_s >= 1793491200 AND e.sync_state = 'pending'",
        facets: false,
    },
    Q {
        tantivy: "storage_class:GLACIER",
        fts: None,
        filter: "e.storage_class = 'GLACIER'",
        facets: true,
    },
    Q {
        tantivy: "kind:partition",
        fts: None,
        filter: "e.kind = 'partition'",
        facets: true,
    },
    Q {
        tantivy: "zone:cleaned ward:\"Ward 12\"",
        fts: None,
        filter: "e.zone = 'cleaned' AND e.ward = 'Ward 12'",
        facets: true,
    },
    Q {
        tantivy: "changes:added",
        fts: Some("changes:added"),
        filter: "1",
        facets: false,
    },
    Q {
        tantivy: "patient:0000000000000000000000000000abcd",
        fts: None,
        filter: "e.rowid IN (SELECT entry FROM entry_patients WHERE patient = '0000000000000000000000000000abcd')",
        facets: false,
    },
    Q {
        tantivy: "cardiology NEWS2",
        fts: Some("cardiology NEWS2"),
        filter: "1",
        facets: false,
    },
];

const FACET_COLUMNS: [&str; 8] = [
    "kind",
    "zone",
    "dataset",
    "ward",
    "storage_class",
    "archive_state",
    "sync_state",
    "version",
];

fn sqlite_build(path: &std::path::Path, entries: &[CatalogEntry]) -> Connection {
    let mut c = Connection::open(path).expect("sqlite");
    c.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE entries (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, kind TEXT,
           zone TEXT, dataset TEXT, ward TEXT, tags TEXT, storage_class TEXT, archive_state TEXT,
           sync_state TEXT, date_s INTEGER, created_s INTEGER, modified_s INTEGER, rows INTEGER,
           bytes INTEGER, version INTEGER);
         CREATE TABLE entry_patients (patient TEXT NOT NULL, entry INTEGER NOT NULL);
         CREATE VIRTUAL TABLE fts USING fts5(name, description, column, changes, text);",
    )
    .expect("schema");
    let tx = c.transaction().expect("tx");
    {
        let mut e_ins = tx
            .prepare("INSERT INTO entries VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16)")
            .expect("prep");
        let mut f_ins = tx
            .prepare("INSERT INTO fts (rowid, name, description, column, changes, text) VALUES (?1,?2,?3,?4,?5,?6)")
            .expect("prep");
        let mut p_ins = tx
            .prepare("INSERT INTO entry_patients VALUES (?1, ?2)")
            .expect("prep");
        for (i, e) in entries.iter().enumerate() {
            let rowid = i as i64 + 1;
            let day = e.date.as_deref().and_then(|d| {
                chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .ok()?
                    .and_hms_opt(0, 0, 0)
            });
            e_ins
                .execute(rusqlite::params![
                    rowid,
                    e.id,
                    e.kind.as_str(),
                    e.zone,
                    e.dataset,
                    e.wards.first(),
                    e.tags.join(" "),
                    e.storage_class,
                    e.archive_state,
                    e.sync_state,
                    day.map(|d| d.and_utc().timestamp()),
                    e.created.map(|t| t.timestamp()),
                    e.modified.map(|t| t.timestamp()),
                    e.rows,
                    e.bytes,
                    e.schema_version
                ])
                .expect("insert");
            let columns: Vec<&str> = e.columns.iter().map(|c| c.name.as_str()).collect();
            let text = [
                e.id.as_str(),
                e.location.as_deref().unwrap_or_default(),
                &e.tags.join(" "),
            ]
            .join(" ");
            f_ins
                .execute(rusqlite::params![
                    rowid,
                    e.name,
                    e.description,
                    columns.join(" "),
                    e.changes.join(" "),
                    text
                ])
                .expect("fts");
            for p in &e.patients {
                p_ins.execute(rusqlite::params![p, rowid]).expect("patient");
            }
        }
    }
    tx.commit().expect("commit");
    c.execute_batch(
        "CREATE INDEX e_kind ON entries (kind, zone);
         CREATE INDEX e_zone ON entries (zone, kind, archive_state);
         CREATE INDEX e_dataset ON entries (dataset, ward, date_s);
         CREATE INDEX e_ward ON entries (ward, zone, date_s);
         CREATE INDEX e_date ON entries (date_s);
         CREATE INDEX e_created ON entries (created_s);
         CREATE INDEX e_modified ON entries (modified_s);
         CREATE INDEX e_rows ON entries (rows);
         CREATE INDEX e_bytes ON entries (bytes);
         CREATE INDEX e_class ON entries (storage_class);
         CREATE INDEX e_sync ON entries (sync_state);
         CREATE INDEX e_version ON entries (version);
         CREATE INDEX p_patient ON entry_patients (patient);
         ANALYZE;",
    )
    .expect("indexes");
    c
}

/// One query on SQLite: the best 20 (by bm25 where there is text), the
/// total, and the facet counts when asked for.
fn sqlite_query(c: &Connection, q: &Q) -> (usize, usize) {
    let (from, order) = match q.fts {
        Some(m) => (
            format!(
                "fts JOIN entries e ON e.rowid = fts.rowid WHERE fts MATCH '{}' AND",
                m.replace('\'', "''")
            ),
            "ORDER BY bm25(fts)",
        ),
        None => ("entries e WHERE".to_owned(), ""),
    };
    let mut top = c
        .prepare_cached(&format!(
            "SELECT e.id FROM {from} {} {order} LIMIT 20",
            q.filter
        ))
        .expect("top");
    let hits = top
        .query_map([], |r| r.get::<_, String>(0))
        .expect("top")
        .count();
    let total: i64 = c
        .prepare_cached(&format!("SELECT count(*) FROM {from} {}", q.filter))
        .expect("count")
        .query_row([], |r| r.get(0))
        .expect("count");
    if q.facets {
        for f in FACET_COLUMNS {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT e.{f}, count(*) FROM {from} {} GROUP BY 1",
                    q.filter
                ))
                .expect("facet");
            let _ = s
                .query_map([], |r| r.get::<_, i64>(1))
                .expect("facet")
                .count();
        }
        let mut s = c
            .prepare_cached(&format!(
                "SELECT e.date_s / 86400, count(*) FROM {from} {} GROUP BY 1",
                q.filter
            ))
            .expect("days");
        let _ = s
            .query_map([], |r| r.get::<_, i64>(1))
            .expect("days")
            .count();
    }
    (hits, total as usize)
}

fn pct(sorted: &[StdDuration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn dir_bytes(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let n: usize = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let reps: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(25);
    let tmp = tempfile::tempdir().expect("tmp");
    println!("catalogue search bench: {n} entries, 20 queries x {reps} runs each");
    let t = Instant::now();
    let entries: Vec<CatalogEntry> = (0..n).map(entry).collect();
    println!("generated in {:.1} s", t.elapsed().as_secs_f64());

    let idx_dir = tmp.path().join("index");
    let t = Instant::now();
    let cat = Catalog::create(&idx_dir).expect("index");
    cat.add_all(&entries, 0, &mut |_| {}).expect("build");
    let tantivy_build = t.elapsed().as_secs_f64();
    println!("tantivy segments (documents each): {:?}", cat.segments());
    // WARDWATCH_BENCH_TANTIVY_ONLY=1: no baseline (for profiling tantivy).
    let only = std::env::var_os("WARDWATCH_BENCH_TANTIVY_ONLY").is_some();
    let db = tmp.path().join("fts.db");
    let t = Instant::now();
    let sql = sqlite_build(&db, if only { &entries[..0] } else { &entries });
    let sqlite_build_s = t.elapsed().as_secs_f64();
    let sqlite_bytes = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(db.with_extension("db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    println!(
        "build: tantivy {:.1} s, {:.1} MB | SQLite FTS5 + indexes {:.1} s, {:.1} MB",
        tantivy_build,
        dir_bytes(&idx_dir) as f64 / 1e6,
        sqlite_build_s,
        sqlite_bytes as f64 / 1e6
    );

    let mut all_t = Vec::new();
    let mut all_s = Vec::new();
    let mut all_cold = Vec::new();
    println!(
        "{:<72} {:>9} {:>9} {:>9} {:>9}",
        "query", "matches", "tantivy", "FTS5", "ratio"
    );
    for q in &QUERIES {
        if only && std::env::var_os("WARDWATCH_BENCH_FACETS_ONLY").is_some() && !q.facets {
            continue;
        }
        let found = cat.search(q.tantivy, 20, q.facets).expect(q.tantivy);
        let (_, sql_total) = sqlite_query(&sql, q);
        // Each engine's runs of the query back to back, as a search
        // service answers them; then the same alternating with the other
        // engine, whose scans leave the CPU caches cold for each run.
        let mut tt = Vec::new();
        let mut ts = Vec::new();
        for _ in 0..reps {
            let t = Instant::now();
            std::hint::black_box(cat.search(q.tantivy, 20, q.facets).expect("search"));
            tt.push(t.elapsed());
        }
        for _ in 0..reps {
            let t = Instant::now();
            if !only {
                std::hint::black_box(sqlite_query(&sql, q));
            }
            ts.push(t.elapsed());
        }
        for _ in 0..if only { 0 } else { reps } {
            let t = Instant::now();
            std::hint::black_box(cat.search(q.tantivy, 20, q.facets).expect("search"));
            all_cold.push(t.elapsed());
            std::hint::black_box(sqlite_query(&sql, q));
        }
        tt.sort();
        ts.sort();
        let (mt, ms) = (pct(&tt, 0.5), pct(&ts, 0.5));
        println!(
            "{:<72} {:>9} {:>7.2}ms {:>7.2}ms {:>8.1}x{}",
            format!("{}{}", q.tantivy, if q.facets { " +facets" } else { "" }),
            found.total,
            mt,
            ms,
            ms / mt.max(1e-6),
            if found.total == sql_total {
                ""
            } else {
                "  (counts differ: see tokenizers)"
            }
        );
        all_t.extend(tt);
        all_s.extend(ts);
    }
    all_t.sort();
    all_s.sort();
    all_cold.sort();
    println!(
        "all queries: tantivy p50 {:.2} ms p99 {:.2} ms | FTS5 p50 {:.2} ms p99 {:.2} ms | p99 ratio {:.1}x",
        pct(&all_t, 0.5),
        pct(&all_t, 0.99),
        pct(&all_s, 0.5),
        pct(&all_s, 0.99),
        pct(&all_s, 0.99) / pct(&all_t, 0.99).max(1e-6)
    );
    if !all_cold.is_empty() {
        println!(
            "tantivy alternating with FTS5 (cold CPU caches): p50 {:.2} ms p99 {:.2} ms",
            pct(&all_cold, 0.5),
            pct(&all_cold, 0.99)
        );
    }

    if only {
        return;
    }
    // Written to the store -> searchable: the store holding the entries,
    // one changed, the index brought up to date.
    let data = tmp.path().join("data");
    let mut store = Store::create_dir(&data).expect("store");
    let now = Utc::now();
    let t = Instant::now();
    store.catalog_replace(&entries, "bench", now).expect("load");
    println!(
        "store: {n} entries written with their history in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let dir = Catalog::dir_of(&data);
    let t = Instant::now();
    let cat = Catalog::rebuild(&dir, &store, &mut |_, _| {}).expect("reindex");
    println!("reindex from the store: {:.1} s", t.elapsed().as_secs_f64());
    let mut latencies = BTreeMap::new();
    let mut changed = entries.clone();
    for k in 0..5 {
        changed[k * 1000].description = format!("renamed for the bench {k} zebrafish{k}");
        let t = Instant::now();
        let u = store
            .catalog_replace(&changed, "bench", now)
            .expect("replace");
        let diff = t.elapsed();
        let t = Instant::now();
        cat.update(&store).expect("update");
        let index = t.elapsed();
        let found = cat
            .search(&format!("zebrafish{k}"), 5, false)
            .expect("search");
        assert_eq!(found.total, 1, "the change is searchable");
        assert_eq!(u.updated, 1);
        latencies.insert(k, (diff, index));
    }
    for (k, (diff, index)) in &latencies {
        println!(
            "change {k}: store diff of all {n} entries {:.0} ms, index update (delete + add + commit + reload) {:.1} ms",
            diff.as_secs_f64() * 1e3,
            index.as_secs_f64() * 1e3
        );
    }
}
