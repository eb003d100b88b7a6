//! Wardwatch's dataset catalogue (docs/catalog.md): every dataset of the
//! lake, each schema version, partition and object, searchable offline.
//!
//! - The store holds the truth (`catalog_entries`, with every version in
//!   `catalog_history`); [`harvest`] derives the entries from what the
//!   store knows of the lake, and [`refresh`] writes what changed.
//! - The tantivy index in `DATA_DIR/catalog/` is derived: [`Catalog::update`]
//!   applies the history's changes after the last one it holds (its commit
//!   payload), and [`Catalog::rebuild`] makes it anew after loss or
//!   corruption (`wardwatchctl catalog reindex`).
//! - [`manifest::publish`] writes a manifest per dataset to the lake, for
//!   tools outside Wardwatch, when its description or schemas change.
//! - Queries use tantivy's query language over the fields in [`FIELDS`],
//!   with day, month and year shorthands for the date fields
//!   ([`query::rewrite`]); facets are tantivy aggregations.

pub mod harvest;
pub mod manifest;
pub mod query;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::QueryParser;
use tantivy::schema::{
    DateOptions, DateTimePrecision, FAST, Field, INDEXED, STORED, STRING, Schema, TEXT, Value,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};
use wardwatch_core::store::Store;
use wardwatch_core::store::catalog::{CatalogColumn, CatalogEntry, CatalogUpdate};

pub use harvest::{Context, harvest};

/// The index's folder under the data directory.
pub const INDEX_DIR: &str = "catalog";
/// Memory the index writer may use before it flushes a segment.
const WRITER_BYTES: usize = 50_000_000;

/// A catalogue failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] wardwatch_core::error::Error),
    #[error("the data lake's configuration: {0}")]
    Lake(String),
    #[error(
        "the catalogue index at {path} {reason}; rebuild it from the store with `wardwatchctl catalog reindex`"
    )]
    Index { path: PathBuf, reason: String },
    /// An index of another version of Wardwatch (another schema): derived
    /// data an upgrade rebuilds, not damage.
    #[error(
        "the catalogue index at {path} was made by another version of Wardwatch; the runtime rebuilds it at its next refresh, or rebuild it now with `wardwatchctl catalog reindex`"
    )]
    OtherVersion { path: PathBuf },
    #[error(
        "the catalogue index is being written by another process (the runtime's sync, or a reindex); try again in a moment"
    )]
    Busy,
    #[error("cannot read the query: {0} (docs/catalog.md has the syntax and examples)")]
    Query(String),
}

/// The searchable fields, as a query names them.
pub const FIELDS: [(&str, &str); 27] = [
    ("id", "exact id, e.g. id:\"dataset:curated/scores\""),
    ("kind", "dataset, schema, partition or object"),
    ("zone", "raw, cleaned or curated"),
    (
        "dataset",
        "observations, quarantine, vitals_minute, scores, ...",
    ),
    ("name", "text: the entry's name"),
    ("description", "text: what it holds"),
    (
        "tag",
        "exact tag: fhir, iceberg, pseudonymised, identifiable, ...",
    ),
    (
        "column",
        "text: column names (spo2_scale matches column:spo2)",
    ),
    (
        "changes",
        "text: a schema version's changes (added, dropped, retyped)",
    ),
    (
        "text",
        "text: everything else (keys, locations, column descriptions)",
    ),
    ("owner", "exact owner"),
    (
        "iceberg",
        "exact Iceberg table identifier, e.g. wardwatch.scores",
    ),
    ("ward", "exact ward (quote names with spaces)"),
    (
        "patient",
        "exact pseudonymised patient a curated partition covers",
    ),
    ("storage_class", "STANDARD, GLACIER, DEEP_ARCHIVE, ..."),
    ("archive_state", "hot or archived"),
    ("sync_state", "pending or synced"),
    ("codec", "ndjson+zstd or parquet+zstd"),
    (
        "date",
        "date: the partition's or object's day (date:2026-03 for March)",
    ),
    ("first", "date: the first row's time"),
    ("last", "date: the last row's time"),
    ("created", "date: when the entry's data was created"),
    ("modified", "date: when the entry's data last changed"),
    ("rows", "number of rows or records"),
    ("bytes", "number of bytes stored"),
    ("objects", "number of objects or data files"),
    ("version", "schema version (1, 2, ...)"),
];

/// The fields by role.
#[derive(Debug, Clone, Copy)]
struct Fields {
    id: Field,
    kind: Field,
    zone: Field,
    dataset: Field,
    name: Field,
    description: Field,
    tag: Field,
    column: Field,
    changes: Field,
    text: Field,
    owner: Field,
    iceberg: Field,
    ward: Field,
    patient: Field,
    storage_class: Field,
    archive_state: Field,
    sync_state: Field,
    codec: Field,
    date: Field,
    first: Field,
    last: Field,
    created: Field,
    modified: Field,
    rows: Field,
    bytes: Field,
    objects: Field,
    version: Field,
    /// The packed facet key ([`facet_key`]), for counting only.
    facets: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let date = DateOptions::default()
        .set_indexed()
        .set_fast()
        .set_precision(DateTimePrecision::Seconds);
    let f = Fields {
        id: b.add_text_field("id", STRING | STORED),
        kind: b.add_text_field("kind", STRING | FAST),
        zone: b.add_text_field("zone", STRING | FAST),
        dataset: b.add_text_field("dataset", STRING | FAST),
        name: b.add_text_field("name", TEXT),
        description: b.add_text_field("description", TEXT),
        tag: b.add_text_field("tag", STRING | FAST),
        column: b.add_text_field("column", TEXT),
        changes: b.add_text_field("changes", TEXT),
        text: b.add_text_field("text", TEXT),
        owner: b.add_text_field("owner", STRING | FAST),
        iceberg: b.add_text_field("iceberg", STRING),
        ward: b.add_text_field("ward", STRING | FAST),
        patient: b.add_text_field("patient", STRING),
        storage_class: b.add_text_field("storage_class", STRING | FAST),
        archive_state: b.add_text_field("archive_state", STRING | FAST),
        sync_state: b.add_text_field("sync_state", STRING | FAST),
        codec: b.add_text_field("codec", STRING | FAST),
        date: b.add_date_field("date", date.clone()),
        first: b.add_date_field("first", date.clone()),
        last: b.add_date_field("last", date.clone()),
        created: b.add_date_field("created", date.clone()),
        modified: b.add_date_field("modified", date),
        rows: b.add_u64_field("rows", INDEXED | FAST),
        bytes: b.add_u64_field("bytes", INDEXED | FAST),
        objects: b.add_u64_field("objects", INDEXED | FAST),
        version: b.add_u64_field("version", INDEXED | FAST),
        facets: b.add_text_field(
            "facets",
            tantivy::schema::TextOptions::default().set_fast("raw"),
        ),
    };
    (b.build(), f)
}

fn tdate(t: DateTime<Utc>) -> tantivy::DateTime {
    tantivy::DateTime::from_timestamp_secs(t.timestamp())
}

impl Fields {
    /// The entry as a document.
    fn doc(&self, e: &CatalogEntry) -> TantivyDocument {
        let mut d = TantivyDocument::default();
        d.add_text(self.id, &e.id);
        d.add_text(self.kind, e.kind.as_str());
        d.add_text(self.facets, facet_key(e));
        d.add_text(self.zone, &e.zone);
        d.add_text(self.dataset, &e.dataset);
        d.add_text(self.name, &e.name);
        d.add_text(self.description, &e.description);
        for t in &e.tags {
            d.add_text(self.tag, t);
        }
        for c in &e.columns {
            d.add_text(self.column, &c.name);
        }
        for c in &e.changes {
            d.add_text(self.changes, c);
        }
        let mut text = vec![e.id.as_str(), e.name.as_str()];
        text.extend(e.tags.iter().map(String::as_str));
        text.extend(e.columns.iter().map(|c| c.doc.as_str()));
        text.extend(e.changes.iter().map(String::as_str));
        text.extend(e.wards.iter().map(String::as_str));
        text.extend(
            [&e.iceberg, &e.location, &e.key, &e.owner]
                .into_iter()
                .flatten()
                .map(String::as_str),
        );
        d.add_text(self.text, text.join(" \n "));
        let exact = [
            (self.owner, &e.owner),
            (self.iceberg, &e.iceberg),
            (self.storage_class, &e.storage_class),
            (self.archive_state, &e.archive_state),
            (self.sync_state, &e.sync_state),
            (self.codec, &e.codec),
        ];
        for (f, v) in exact {
            if let Some(v) = v {
                d.add_text(f, v);
            }
        }
        for w in &e.wards {
            d.add_text(self.ward, w);
        }
        for p in &e.patients {
            d.add_text(self.patient, p);
        }
        let day = e.date.as_deref().and_then(|s| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()?
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc())
        });
        let dates = [
            (self.date, day),
            (self.first, e.first),
            (self.last, e.last),
            (self.created, e.created),
            (self.modified, e.modified),
        ];
        for (f, v) in dates {
            if let Some(v) = v {
                d.add_date(f, tdate(v));
            }
        }
        let numbers = [
            (self.rows, e.rows),
            (self.bytes, e.bytes),
            (self.objects, e.objects),
            (self.version, e.schema_version),
        ];
        for (f, v) in numbers {
            if let Some(v) = v {
                d.add_u64(f, v.max(0) as u64);
            }
        }
        d
    }
}

/// A result: the entry's id and relevance score (0 for a query without
/// words, whose hits come newest first).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub id: String,
    pub score: f32,
}

/// What a search found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Found {
    /// All matches (the hits are the best `limit` of them).
    pub total: usize,
    pub hits: Vec<Hit>,
    /// Counts by field value over all matches, when asked for.
    pub facets: Option<Facets>,
    /// The words the query looked for in column names (lowercase), to show
    /// which column of a hit matched.
    pub column_terms: Vec<String>,
}

/// Counts of the matches by field value; `date` by day of the partitions.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facets {
    pub counts: BTreeMap<String, Vec<(String, u64)>>,
}

/// The fields faceted, and how many values each shows at most.
const FACETS: [(&str, u32); 9] = [
    ("kind", 4),
    ("zone", 3),
    ("dataset", 20),
    ("ward", 50),
    ("storage_class", 10),
    ("archive_state", 2),
    ("sync_state", 2),
    ("version", 20),
    ("tag", 30),
];

/// The searchable index.
pub struct Catalog {
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    fields: Fields,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").field("dir", &self.dir).finish()
    }
}

fn index_error(dir: &Path, e: impl std::fmt::Display) -> Error {
    Error::Index {
        path: dir.to_owned(),
        reason: format!("cannot be read ({e})"),
    }
}

fn writer_error(dir: &Path, e: tantivy::TantivyError) -> Error {
    match e {
        tantivy::TantivyError::LockFailure(..) => Error::Busy,
        e => Error::Index {
            path: dir.to_owned(),
            reason: format!("cannot be written ({e})"),
        },
    }
}

/// Creates `dir` readable by its owner only (it names pseudonymised
/// patients).
fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

impl Catalog {
    /// The index folder of a data directory.
    pub fn dir_of(data_dir: &Path) -> PathBuf {
        data_dir.join(INDEX_DIR)
    }

    /// Opens the index in `dir`; a missing, unreadable or foreign index is
    /// an error that says how to rebuild it.
    pub fn open(dir: &Path) -> Result<Catalog, Error> {
        if !dir.join("meta.json").exists() {
            return Err(Error::Index {
                path: dir.to_owned(),
                reason: "does not exist".into(),
            });
        }
        let mut index = Index::open_in_dir(dir).map_err(|e| index_error(dir, e))?;
        // Segments are searched on all cores.
        index
            .set_default_multithread_executor()
            .map_err(|e| index_error(dir, e))?;
        let (wanted, fields) = schema();
        if index.schema() != wanted {
            return Err(Error::OtherVersion {
                path: dir.to_owned(),
            });
        }
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| index_error(dir, e))?;
        let c = Catalog {
            dir: dir.to_owned(),
            index,
            reader,
            fields,
        };
        c.seq()?;
        Ok(c)
    }

    /// Makes a new, empty index in `dir` (which must not hold one).
    pub fn create(dir: &Path) -> Result<Catalog, Error> {
        private_dir(dir).map_err(|e| Error::Index {
            path: dir.to_owned(),
            reason: format!("cannot be made ({e})"),
        })?;
        let (s, fields) = schema();
        let mut index = Index::create_in_dir(dir, s).map_err(|e| Error::Index {
            path: dir.to_owned(),
            reason: format!("cannot be made ({e})"),
        })?;
        index
            .set_default_multithread_executor()
            .map_err(|e| index_error(dir, e))?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| index_error(dir, e))?;
        Ok(Catalog {
            dir: dir.to_owned(),
            index,
            reader,
            fields,
        })
    }

    /// The index's segments (searched in parallel) and the documents each
    /// holds.
    pub fn segments(&self) -> Vec<u32> {
        self.reader
            .searcher()
            .segment_readers()
            .iter()
            .map(|s| s.num_docs())
            .collect()
    }

    /// The store's history number the index is current with (its last
    /// commit's payload; 0 for a new index).
    pub fn seq(&self) -> Result<i64, Error> {
        let metas = self
            .index
            .load_metas()
            .map_err(|e| index_error(&self.dir, e))?;
        match metas.payload {
            None => Ok(0),
            Some(p) => p.trim().parse().map_err(|_| Error::Index {
                path: self.dir.clone(),
                reason: format!("holds an unreadable position `{p}`"),
            }),
        }
    }

    fn writer(&self) -> Result<IndexWriter<TantivyDocument>, Error> {
        self.index
            .writer_with_num_threads(1, WRITER_BYTES)
            .map_err(|e| writer_error(&self.dir, e))
    }

    fn commit(&self, mut w: IndexWriter<TantivyDocument>, seq: i64) -> Result<(), Error> {
        let mut prepared = w.prepare_commit().map_err(|e| writer_error(&self.dir, e))?;
        prepared.set_payload(&seq.to_string());
        prepared.commit().map_err(|e| writer_error(&self.dir, e))?;
        w.wait_merging_threads()
            .map_err(|e| writer_error(&self.dir, e))?;
        self.reader.reload().map_err(|e| index_error(&self.dir, e))
    }

    /// Applies the store's changes after the index's position: each changed
    /// entry is replaced (or removed). The number of entries applied.
    pub fn update(&self, store: &Store) -> Result<usize, Error> {
        let at = self.seq()?;
        let last = store.catalog_seq()?;
        if at > last {
            return Err(Error::Index {
                path: self.dir.clone(),
                reason: format!(
                    "is ahead of the store (change {at} of {last}: was the store restored from a backup?)"
                ),
            });
        }
        if at == last {
            return Ok(0);
        }
        let (ids, upto) = store.catalog_changed_since(at)?;
        let w = self.writer()?;
        for id in &ids {
            w.delete_term(Term::from_field_text(self.fields.id, id));
            if let Some(e) = store.catalog_entry(id)? {
                w.add_document(self.fields.doc(&e))
                    .map_err(|e| writer_error(&self.dir, e))?;
            }
        }
        self.commit(w, upto)?;
        Ok(ids.len())
    }

    /// Adds entries to an index that does not hold them (a build), at
    /// position `seq`; `progress` hears the count added so far.
    pub fn add_all<'a>(
        &self,
        entries: impl IntoIterator<Item = &'a CatalogEntry>,
        seq: i64,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64, Error> {
        let w = self.writer()?;
        let mut n = 0u64;
        for e in entries {
            w.add_document(self.fields.doc(e))
                .map_err(|e| writer_error(&self.dir, e))?;
            n += 1;
            if n.is_multiple_of(1000) {
                progress(n);
            }
        }
        self.commit(w, seq)?;
        progress(n);
        Ok(n)
    }

    /// Builds the index of `dir` anew from the store, beside the old one,
    /// then swaps it in: a reader never sees half an index, and a failed
    /// build leaves the old one. `progress` hears (done, total).
    pub fn rebuild(
        dir: &Path,
        store: &Store,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Catalog, Error> {
        let fresh = dir.with_extension("new");
        let old = dir.with_extension("old");
        let io = |e: std::io::Error| Error::Index {
            path: dir.to_owned(),
            reason: format!("cannot be replaced ({e})"),
        };
        for d in [&fresh, &old] {
            if d.exists() {
                std::fs::remove_dir_all(d).map_err(io)?;
            }
        }
        let total = store.catalog_len()?.max(0) as u64;
        // The position first: changes made during the build are applied by
        // the next update (applying one twice is harmless).
        let seq = store.catalog_seq()?;
        {
            let c = Catalog::create(&fresh)?;
            let w = c.writer()?;
            let mut n = 0u64;
            let mut failed = None;
            store.catalog_each(|e| {
                if failed.is_some() {
                    return;
                }
                if let Err(e) = w.add_document(c.fields.doc(&e)) {
                    failed = Some(writer_error(&fresh, e));
                }
                n += 1;
                if n.is_multiple_of(1000) {
                    progress(n, total);
                }
            })?;
            if let Some(e) = failed {
                return Err(e);
            }
            c.commit(w, seq)?;
            progress(n, total);
        }
        if dir.exists() {
            std::fs::rename(dir, &old).map_err(io)?;
        }
        std::fs::rename(&fresh, dir).map_err(io)?;
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(io)?;
        }
        let c = Catalog::open(dir)?;
        c.update(store)?;
        Ok(c)
    }

    /// Entries in the index.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the index takes on disk.
    pub fn disk_bytes(&self) -> u64 {
        fn walk(p: &Path) -> u64 {
            std::fs::read_dir(p)
                .map(|rd| {
                    rd.flatten()
                        .map(|e| match e.metadata() {
                            Ok(m) if m.is_dir() => walk(&e.path()),
                            Ok(m) => m.len(),
                            Err(_) => 0,
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        walk(&self.dir)
    }

    /// Searches: the best `limit` matches by relevance (or, for a query of
    /// fields only, the most recently modified), the total, and with
    /// `facets` the counts of all matches by field value.
    pub fn search(&self, query: &str, limit: usize, facets: bool) -> Result<Found, Error> {
        let f = &self.fields;
        let text_fields = [f.name, f.description, f.column, f.changes, f.text];
        let mut parser = QueryParser::for_index(&self.index, text_fields.to_vec());
        parser.set_conjunction_by_default();
        // Prefixes are rewritten into regex queries (query.rs).
        parser.allow_regexes();
        parser.set_field_boost(f.name, 3.0);
        parser.set_field_boost(f.column, 2.0);
        let text = query::rewrite(query).map_err(Error::Query)?;
        let q = if text.trim().is_empty() {
            Box::new(tantivy::query::AllQuery)
        } else {
            parser
                .parse_query(&text)
                .map_err(|e| Error::Query(e.to_string()))?
        };
        let mut column_terms = Vec::new();
        q.query_terms(&mut |term, _| {
            if term.field() == f.column
                && let Some(s) = term.value().as_str()
                && !column_terms.iter().any(|t: &String| t == s)
            {
                column_terms.push(s.to_owned());
            }
        });
        // Words (terms or prefixes in the text fields) rank by relevance;
        // a query of fields only has nothing to rank by, so its hits are the
        // newest first, found in one pass without scores (blocks of
        // matches, read in bulk by the facet columns).
        let mut words = query::TEXT_FIELDS
            .iter()
            .any(|name| text.contains(&format!("{name}:/")));
        q.query_terms(&mut |term, _| words |= text_fields.contains(&term.field()));
        let searcher = self.reader.searcher();
        let search_error = |e| index_error(&self.dir, e);
        let (top, total, fruit): (Vec<(f32, tantivy::DocAddress)>, usize, Option<FacetFruit>) =
            if words {
                let (top, total) = searcher
                    .search(
                        &q,
                        &(TopDocs::with_limit(limit.max(1)).order_by_score(), Count),
                    )
                    .map_err(search_error)?;
                // Facets in a pass of their own, without scores.
                let fruit = if facets {
                    Some(searcher.search(&q, &FacetCollector).map_err(search_error)?)
                } else {
                    None
                };
                (top, total, fruit)
            } else {
                let newest = TopDocs::with_limit(limit.max(1))
                    .order_by_fast_field::<tantivy::DateTime>("modified", tantivy::Order::Desc);
                let (top, total, fruit) = if facets {
                    let (t, c, f) = searcher
                        .search(&q, &(newest, Count, FacetCollector))
                        .map_err(search_error)?;
                    (t, c, Some(f))
                } else {
                    let (t, c) = searcher
                        .search(&q, &(newest, Count))
                        .map_err(search_error)?;
                    (t, c, None)
                };
                let top = top.into_iter().map(|(_, addr)| (0.0, addr)).collect();
                (top, total, fruit)
            };
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top.into_iter().take(limit) {
            let doc: TantivyDocument = searcher.doc(addr).map_err(search_error)?;
            if let Some(id) = doc.get_first(f.id).and_then(|v| v.as_str()) {
                hits.push(Hit {
                    id: id.to_owned(),
                    score,
                });
            }
        }
        let facets = fruit.map(Catalog::facets);
        Ok(Found {
            total,
            hits,
            facets,
            column_terms,
        })
    }

    /// The facet panel: each field's most frequent values, and the days.
    fn facets(fruit: FacetFruit) -> Facets {
        // Each distinct combination split into its fields once.
        let mut terms: Vec<HashMap<&str, u64>> = vec![HashMap::new(); FACETS.len()];
        for (combination, n) in &fruit.combinations {
            for (field, values) in terms.iter_mut().zip(combination.split(KEY_SEP)) {
                for value in values.split(VALUE_SEP).filter(|v| !v.is_empty()) {
                    *field.entry(value).or_insert(0) += n;
                }
            }
        }
        let mut counts = BTreeMap::new();
        for (i, (name, size)) in FACETS.iter().enumerate() {
            let mut by_value: Vec<(String, u64)> = terms[i]
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| ((*k).to_owned(), *n))
                .collect();
            // Most frequent first, then by value, as a facet panel lists them.
            by_value.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            by_value.truncate(*size as usize);
            counts.insert((*name).to_owned(), by_value);
        }
        let days = fruit
            .days
            .iter()
            .filter_map(|(day, n)| {
                let d = DateTime::<Utc>::from_timestamp(day * 86_400, 0)?;
                // By hand: chrono's strftime costs a microsecond a day.
                let day = d.date_naive();
                Some((
                    format!("{:04}-{:02}-{:02}", day.year(), day.month(), day.day()),
                    *n,
                ))
            })
            .collect();
        counts.insert("date".to_owned(), days);
        Facets { counts }
    }
}

/// What the facet collector counts over all matches: each packed facet key
/// ([`facet_key`]) that occurs, with its count; per day (days since the
/// epoch), the partitions' count.
#[derive(Debug, Default)]
struct FacetFruit {
    combinations: HashMap<String, u64>,
    days: BTreeMap<i64, u64>,
}

/// Every faceted field but the date, held together in one fast field per
/// document (`facets`): [`FACETS`]' values in order, joined by
/// [`KEY_SEP`] (several values of one field by [`VALUE_SEP`]). Counting
/// the facets of a match is then one column read instead of nine; the
/// distinct combinations are few (thousands at most: kind, zone, dataset,
/// ward, class, archive and sync state, version, tags), so a segment counts
/// them in an array by ordinal and names each combination once.
const KEY_SEP: char = '\u{1f}';
const VALUE_SEP: char = '\u{1e}';

/// The packed facet key of an entry ("" for a field without a value).
fn facet_key(e: &CatalogEntry) -> String {
    let clean = |v: &str| v.replace([KEY_SEP, VALUE_SEP], " ");
    let many = |vs: &[String]| {
        vs.iter()
            .map(|v| clean(v))
            .collect::<Vec<_>>()
            .join(&VALUE_SEP.to_string())
    };
    // In the order of FACETS.
    let values = [
        e.kind.as_str().to_owned(),
        clean(&e.zone),
        clean(&e.dataset),
        many(&e.wards),
        e.storage_class.as_deref().map(clean).unwrap_or_default(),
        e.archive_state.as_deref().map(clean).unwrap_or_default(),
        e.sync_state.as_deref().map(clean).unwrap_or_default(),
        e.schema_version.map(|v| v.to_string()).unwrap_or_default(),
        many(&e.tags),
    ];
    values.join(&KEY_SEP.to_string())
}

/// Counts facet values straight from the fast-field columns: one pass over
/// the matches, per-segment arrays indexed by term ordinal, strings looked
/// up once per distinct value at the end.
struct FacetCollector;

/// A string column of a segment and its counts by term ordinal.
struct Counted {
    column: tantivy::columnar::StrColumn,
    counts: Vec<u64>,
}

impl Counted {
    fn of(column: tantivy::columnar::StrColumn) -> Counted {
        let counts = vec![0; column.num_terms()];
        Counted { column, counts }
    }

    /// Counts the values of `docs` (sorted): a full column directly, an
    /// optional or multi-valued one through the block's value rows (found
    /// for the sorted block at once, not a rank per document).
    fn count(&mut self, docs: &[tantivy::DocId], b: &mut Buffers) {
        let ords = self.column.ords();
        if full(ords) {
            b.ords.resize(docs.len(), None);
            ords.first_vals(docs, &mut b.ords);
            for ord in b.ords.iter().flatten() {
                if let Some(n) = self.counts.get_mut(*ord as usize) {
                    *n += 1;
                }
            }
        } else {
            b.docs_out.clear();
            b.rows.clear();
            ords.row_ids_for_docs(docs, &mut b.docs_out, &mut b.rows);
            b.vals.resize(b.rows.len(), 0);
            ords.values.get_vals(&b.rows, &mut b.vals);
            for ord in &b.vals {
                if let Some(n) = self.counts.get_mut(*ord as usize) {
                    *n += 1;
                }
            }
        }
    }

    /// The counted values with their names (read from the dictionary in
    /// one ordered pass); `unreadable` adds the count of those whose name
    /// cannot be read back.
    fn named(self, unreadable: &mut u64) -> Vec<(String, u64)> {
        let (ords, counts): (Vec<u64>, Vec<u64>) = self
            .counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(ord, n)| (ord as u64, *n))
            .unzip();
        let mut names = Vec::with_capacity(ords.len());
        // Stops at the first ordinal it cannot read: the rest are unnamed.
        let _ = self
            .column
            .dictionary()
            .sorted_ords_to_term_cb(&ords, |bytes| {
                names.push(String::from_utf8_lossy(bytes).into_owned());
            });
        *unreadable += counts[names.len().min(counts.len())..].iter().sum::<u64>();
        names.into_iter().zip(counts).collect()
    }
}

/// Buffers reused from block to block.
#[derive(Default)]
struct Buffers {
    ords: Vec<Option<u64>>,
    dates: Vec<Option<tantivy::DateTime>>,
    docs_out: Vec<tantivy::DocId>,
    rows: Vec<u32>,
    vals: Vec<u64>,
}

struct SegmentFacets {
    key: Option<Counted>,
    date: Option<tantivy::columnar::Column<tantivy::DateTime>>,
    /// Partitions per day, from the segment's first day.
    first_day: i64,
    days: Vec<u64>,
    buffers: Buffers,
}

/// Days since the epoch.
fn day_of(d: tantivy::DateTime) -> i64 {
    d.into_timestamp_secs().div_euclid(86_400)
}

/// Whether a column holds exactly one value per document (read directly).
fn full(
    c: &tantivy::columnar::Column<impl PartialOrd + Copy + std::fmt::Debug + Send + Sync + 'static>,
) -> bool {
    matches!(c.get_cardinality(), tantivy::columnar::Cardinality::Full)
}

impl tantivy::collector::Collector for FacetCollector {
    type Fruit = FacetFruit;
    type Child = SegmentFacets;

    fn for_segment(
        &self,
        _: tantivy::SegmentOrdinal,
        segment: &tantivy::SegmentReader,
    ) -> tantivy::Result<SegmentFacets> {
        let ff = segment.fast_fields();
        let key = ff.str("facets")?.map(Counted::of);
        let date = ff.column_opt::<tantivy::DateTime>("date")?;
        let (first_day, span) = match &date {
            Some(d) if d.num_docs() > 0 => {
                let first = day_of(d.min_value());
                (first, (day_of(d.max_value()) - first + 1).clamp(0, 1 << 20))
            }
            _ => (0, 0),
        };
        Ok(SegmentFacets {
            key,
            date,
            first_day,
            days: vec![0; span as usize],
            buffers: Buffers::default(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, segments: Vec<FacetFruit>) -> tantivy::Result<FacetFruit> {
        let mut out = FacetFruit::default();
        for s in segments {
            for (k, n) in s.combinations {
                *out.combinations.entry(k).or_insert(0) += n;
            }
            for (d, n) in s.days {
                *out.days.entry(d).or_insert(0) += n;
            }
        }
        Ok(out)
    }
}

impl tantivy::collector::SegmentCollector for SegmentFacets {
    type Fruit = FacetFruit;

    fn collect(&mut self, doc: tantivy::DocId, _: tantivy::Score) {
        self.collect_block(&[doc]);
    }

    fn collect_block(&mut self, docs: &[tantivy::DocId]) {
        let b = &mut self.buffers;
        if let Some(key) = &mut self.key {
            key.count(docs, b);
        }
        if let Some(date) = &self.date {
            b.dates.resize(docs.len(), None);
            date.first_vals(docs, &mut b.dates);
            for d in b.dates.iter().flatten() {
                let i = day_of(*d) - self.first_day;
                if let Some(n) = usize::try_from(i).ok().and_then(|i| self.days.get_mut(i)) {
                    *n += 1;
                }
            }
        }
    }

    fn harvest(self) -> FacetFruit {
        let mut unreadable = 0u64;
        let combinations = match self.key {
            Some(key) => key.named(&mut unreadable).into_iter().collect(),
            None => HashMap::new(),
        };
        let first_day = self.first_day;
        let days = self
            .days
            .into_iter()
            .enumerate()
            .filter(|(_, n)| *n > 0)
            .map(|(i, n)| (first_day + i as i64, n))
            .collect();
        if unreadable > 0 {
            // A term dictionary that cannot be read back: the index is
            // damaged (`catalog reindex` rebuilds it); the counts are short.
            tracing::error!(
                unreadable,
                "facet values could not be named; the catalogue index may be damaged"
            );
        }
        FacetFruit { combinations, days }
    }
}

/// The columns of `entry` a search for `terms` (lowercase words) matched:
/// those whose name has one of the words.
pub fn matched_columns<'a>(entry: &'a CatalogEntry, terms: &[String]) -> Vec<&'a CatalogColumn> {
    entry
        .columns
        .iter()
        .filter(|c| {
            let name = c.name.to_lowercase();
            name.split(|ch: char| !ch.is_alphanumeric())
                .any(|w| terms.iter().any(|t| t == w))
        })
        .collect()
}

/// What a refresh did.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Refreshed {
    /// Entries created, updated and removed in the store.
    pub store: CatalogUpdate,
    /// Entries the index applied.
    pub indexed: usize,
    /// Whether the index was missing and built anew.
    pub built: bool,
}

/// Brings the catalogue up to date with the lake: harvests the entries,
/// writes what changed to the store (as `actor`), and updates the index in
/// `DATA_DIR/catalog` (building it when it does not exist yet, or was made
/// by another version of Wardwatch: an upgrade). An index that exists but
/// cannot be read is an error (reindex), never rebuilt behind the user's
/// back.
pub fn refresh(
    store: &mut Store,
    data_dir: &Path,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Refreshed, Error> {
    let cx = Context::from_store(store, data_dir, now)?;
    let entries = harvest(store, &cx)?;
    let update = store.catalog_replace(&entries, actor, now)?;
    let dir = Catalog::dir_of(data_dir);
    if !dir.exists() {
        let c = Catalog::rebuild(&dir, store, &mut |_, _| {})?;
        return Ok(Refreshed {
            store: update,
            indexed: c.len() as usize,
            built: true,
        });
    }
    let catalog = match Catalog::open(&dir) {
        Err(Error::OtherVersion { .. }) => {
            tracing::warn!("the catalogue index is of another version of Wardwatch: rebuilding it");
            let c = Catalog::rebuild(&dir, store, &mut |_, _| {})?;
            return Ok(Refreshed {
                store: update,
                indexed: c.len() as usize,
                built: true,
            });
        }
        other => other?,
    };
    let indexed = catalog.update(store)?;
    Ok(Refreshed {
        store: update,
        indexed,
        built: false,
    })
}
