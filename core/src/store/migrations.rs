//! Versioned schema migrations. `PRAGMA user_version` holds the number of
//! migrations applied; each runs once, in its own transaction, in order, with
//! foreign keys off so that it can rebuild a table (see `Store::migrate`).
//! Never edit a migration that has shipped: add a new one.
//!
//! Migration 1 was once edited in place, three times, so the stores built
//! from 60daed1 to 3db3bf8 all say version 1 but hold four different schemas.
//! It is frozen again as it first landed, each of those edits is now a
//! migration of its own (2: ingest, 3: alarms, 4: an index), and
//! [`actual_version_of_v1_store`] tells which of them such a store already
//! holds.
//!
//! What SQLite cannot `ALTER` (a column's type, a constraint, a `NOT NULL`
//! column without a default) is done by rebuilding the table inside the
//! migration, as SQLite's "making other kinds of table schema changes"
//! procedure says: create `new_x`, copy the rows, drop `x`, rename `new_x` to
//! `x`, recreate its indexes and triggers.
//!
//! Sizing (1,000 patients, 1 year of per-minute history, 72 h of full-rate ECG)
//! is worked out in ARCHITECTURE.md; the shapes below follow from it: minute
//! rollups are packed one row per patient, vital and hour, and ECG is stored in
//! compressed multi-second blocks, never a row per sample.

use rusqlite::Connection;

pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the clinical store's first schema, as it landed in 60daed1.
    r#"
CREATE TABLE patients (
    id              INTEGER PRIMARY KEY,
    mrn             TEXT NOT NULL UNIQUE,
    family_name     TEXT NOT NULL,
    given_name      TEXT NOT NULL,
    birth_date      TEXT NOT NULL,              -- ISO 8601 date
    sex             TEXT NOT NULL CHECK (sex IN ('female','male','other','unknown')),
    ward            TEXT,
    bed             TEXT,
    attending       TEXT,
    spo2_scale      INTEGER NOT NULL DEFAULT 1 CHECK (spo2_scale IN (1, 2)),
    alert_consent   INTEGER NOT NULL DEFAULT 0 CHECK (alert_consent IN (0, 1)),
    baseline_hr     REAL,
    baseline_rr     REAL,
    baseline_sbp    REAL,
    baseline_spo2   REAL,
    baseline_temp_c REAL,
    admitted_ms     INTEGER,                    -- ms since the Unix epoch, UTC
    discharged_ms   INTEGER,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL
);
CREATE INDEX patients_ward_bed ON patients (ward, bed);

-- Lists keep the order the registry gave them; position is 0-based.
CREATE TABLE patient_conditions (
    patient_id INTEGER NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    display    TEXT NOT NULL,
    PRIMARY KEY (patient_id, position)
) WITHOUT ROWID;
CREATE TABLE patient_medications (
    patient_id INTEGER NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    display    TEXT NOT NULL,
    PRIMARY KEY (patient_id, position)
) WITHOUT ROWID;
CREATE TABLE patient_allergies (
    patient_id INTEGER NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    display    TEXT NOT NULL,
    PRIMARY KEY (patient_id, position)
) WITHOUT ROWID;

CREATE TABLE devices (
    id          INTEGER PRIMARY KEY,
    device_uid  TEXT NOT NULL UNIQUE,           -- as the FHIR Observation.device names it
    kind        TEXT NOT NULL,                  -- bedside, wearable, phone, ...
    patient_id  INTEGER REFERENCES patients (id),
    linked_ms   INTEGER,
    unlinked_ms INTEGER
);
CREATE INDEX devices_patient ON devices (patient_id);

-- Numeric vital samples for the recent window (raw retention, see
-- ARCHITECTURE.md); older history lives in vital_rollups.
-- vital: 1 HR, 2 RR, 3 SpO2, 4 SBP, 5 DBP, 6 temperature, 7 consciousness,
-- 8 supplemental O2 (the code table is model::vital). status 0 = a measured
-- value, 1 = signal lost (value NULL): "no signal" is never stored as a number.
CREATE TABLE vital_samples (
    patient_id INTEGER NOT NULL REFERENCES patients (id),
    vital      INTEGER NOT NULL,
    ts_ms      INTEGER NOT NULL,
    value      REAL,
    status     INTEGER NOT NULL DEFAULT 0,
    device_id  INTEGER REFERENCES devices (id),
    PRIMARY KEY (patient_id, vital, ts_ms)
) WITHOUT ROWID;

-- ECG in blocks of a few seconds: samples delta-encoded and compressed in
-- `data`; `encoding` names the codec so it can change without a migration.
CREATE TABLE ecg_blocks (
    id         INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patients (id),
    lead       INTEGER NOT NULL,                -- IEEE 11073 MDC code of the lead
    start_ms   INTEGER NOT NULL,
    fs_hz      REAL NOT NULL,
    n_samples  INTEGER NOT NULL,
    factor_uv  REAL NOT NULL,                   -- microvolts per stored unit
    encoding   INTEGER NOT NULL,
    data       BLOB NOT NULL,
    UNIQUE (patient_id, lead, start_ms)
);

-- Per-minute rollups, one row per patient, vital and hour: `data` packs 60
-- minutes of (count u16, min i16, max i16, mean i16) in value units x10,
-- little-endian, 480 bytes. One row per minute would cost ~10x more.
CREATE TABLE vital_rollups (
    patient_id INTEGER NOT NULL REFERENCES patients (id),
    vital      INTEGER NOT NULL,
    hour_ms    INTEGER NOT NULL,
    data       BLOB NOT NULL,
    PRIMARY KEY (patient_id, vital, hour_ms)
);

CREATE TABLE scores (
    id         INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patients (id),
    kind       TEXT NOT NULL,                   -- news2, cardiac_risk, ...
    ts_ms      INTEGER NOT NULL,
    value      REAL NOT NULL,
    detail     TEXT NOT NULL                    -- JSON: sub-scores, contributors
);
CREATE INDEX scores_patient_kind_ts ON scores (patient_id, kind, ts_ms);

CREATE TABLE alarms (
    id           INTEGER PRIMARY KEY,
    patient_id   INTEGER REFERENCES patients (id),  -- NULL for technical conditions
    condition    TEXT NOT NULL,
    priority     TEXT NOT NULL CHECK (priority IN ('high','medium','low','technical')),
    state        TEXT NOT NULL,
    message      TEXT NOT NULL,
    raised_ms    INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL,
    detail       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX alarms_state ON alarms (state, raised_ms);

CREATE TABLE users (
    id           INTEGER PRIMARY KEY,
    username     TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('admin','clinician','viewer','data')),
    active       INTEGER NOT NULL DEFAULT 1,
    created_ms   INTEGER NOT NULL
);

-- Append-only: the triggers below refuse updates and deletes.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    ts_ms   INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT,
    detail  TEXT NOT NULL DEFAULT '{}'
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Where each stream source has got to: committed in the same transaction as
-- the samples it produced, so a sample is stored exactly once.
CREATE TABLE source_checkpoints (
    source     TEXT NOT NULL,
    shard      TEXT NOT NULL,
    sequence   TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (source, shard)
);

-- Work for the object-store sync; a row leaves only once the object store
-- acknowledged and verified the object.
CREATE TABLE sync_outbox (
    id         INTEGER PRIMARY KEY,
    zone       TEXT NOT NULL CHECK (zone IN ('raw','cleaned','curated')),
    object_key TEXT NOT NULL UNIQUE,
    payload    BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);

-- Input that failed validation, kept byte for byte with the reason.
CREATE TABLE quarantine (
    id          INTEGER PRIMARY KEY,
    received_ms INTEGER NOT NULL,
    source      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    raw         BLOB NOT NULL
);
"#,
    // 2 (in migration 1 from fa62508): ingest. ECG blocks keep the sensor's
    // integer samples; observation ids for duplicate detection; stream sources
    // and their statistics; quarantine codes.
    r#"
-- vital_samples keeps its shape. vital_rollups keeps its columns, but its
-- `data` became 60 minutes of (count u16, min i16, max i16, sum i32), 600
-- bytes (store::rollup): no build at version 1 wrote a rollup, so no row has
-- the old 480-byte layout to convert.

-- ECG in blocks of a few seconds: the integer samples as the sensor sent
-- them (mV = origin_mv + factor_mv * sample), so a replayed recording is
-- stored bit-exact; `encoding` names the codec (ingest::codec) so it can
-- change without a migration.
-- Rebuilt: the sampling rate became a period, and the factor an origin and a
-- factor in mV. No build at version 1 wrote ECG; a row, if any, is kept with
-- its units converted.
CREATE TABLE new_ecg_blocks (
    id         INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patients (id),
    lead       INTEGER NOT NULL,                -- IEEE 11073 MDC code of the lead
    start_ms   INTEGER NOT NULL,
    period_ns  INTEGER NOT NULL,                -- sampling period, nanoseconds
    n_samples  INTEGER NOT NULL,
    origin_mv  REAL NOT NULL,
    factor_mv  REAL NOT NULL,
    encoding   INTEGER NOT NULL,
    data       BLOB NOT NULL,
    UNIQUE (patient_id, lead, start_ms)
);
INSERT INTO new_ecg_blocks
    (id, patient_id, lead, start_ms, period_ns, n_samples, origin_mv, factor_mv, encoding, data)
SELECT id, patient_id, lead, start_ms, CAST(round(1e9 / fs_hz) AS INTEGER), n_samples,
       0.0, factor_uv / 1000.0, encoding, data
FROM ecg_blocks;
DROP TABLE ecg_blocks;
ALTER TABLE new_ecg_blocks RENAME TO ecg_blocks;

-- Observation ids already stored, so a record delivered twice (at-least-once
-- sources) is stored once. Pruned with the raw-sample window.
CREATE TABLE seen_observations (
    obs_id      TEXT PRIMARY KEY,
    received_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- Stream sources the admin configured. Credentials are never stored here:
-- `credentials` names where to find them (e.g. `env:WARDWATCH_AWS`).
CREATE TABLE sources (
    name        TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('sse','kinesis')),
    endpoint    TEXT NOT NULL,
    stream      TEXT,
    region      TEXT,
    credentials TEXT,
    enabled     INTEGER NOT NULL DEFAULT 1,
    created_ms  INTEGER NOT NULL
);

-- What each source has done, for `wardwatchctl ingest status`; written by
-- the runtime with every stored batch.
CREATE TABLE ingest_stats (
    source            TEXT PRIMARY KEY,
    stored            INTEGER NOT NULL DEFAULT 0,
    quarantined       INTEGER NOT NULL DEFAULT 0,
    duplicates        INTEGER NOT NULL DEFAULT 0,
    reconnects        INTEGER NOT NULL DEFAULT 0,
    last_sequence     TEXT,
    last_stored_ms    INTEGER,
    lag_ms            INTEGER,
    oldest_pending_ms INTEGER,
    last_error        TEXT,
    updated_ms        INTEGER NOT NULL
);

-- Input that failed validation, kept byte for byte with the reason.
-- Rebuilt: `code` is NOT NULL without a default, which ALTER TABLE cannot
-- add. No build at version 1 quarantined anything; a row, if any, is kept
-- with the code `unclassified`.
CREATE TABLE new_quarantine (
    id          INTEGER PRIMARY KEY,
    received_ms INTEGER NOT NULL,
    source      TEXT NOT NULL,
    sequence    TEXT,
    code        TEXT NOT NULL,                  -- ingest::Rejection code: invalid_json, unknown_patient, ...
    reason      TEXT NOT NULL,
    raw         BLOB NOT NULL
);
INSERT INTO new_quarantine (id, received_ms, source, sequence, code, reason, raw)
SELECT id, received_ms, source, NULL, 'unclassified', reason, raw FROM quarantine;
DROP TABLE quarantine;
ALTER TABLE new_quarantine RENAME TO quarantine;
CREATE INDEX quarantine_code ON quarantine (code);
"#,
    // 3 (in migration 1 from 5de72fc): the alarm book, silences, per-patient
    // limits and alerts sent on to patients.
    r#"
-- One row per alarm episode: a condition that started, until it is resolved.
-- `key` identifies the condition (e.g. `asystole`, `hr_high`,
-- `tech:stream_stalled`); a new episode of the same key gets a new row only
-- once the previous one is resolved (alarms::book).
-- Rebuilt: `condition` became `key` and `state` gained a CHECK. No build at
-- version 1 raised an alarm; a row, if any, is kept (and one whose state is
-- not in the CHECK fails the migration rather than being guessed at).
CREATE TABLE new_alarms (
    id                 INTEGER PRIMARY KEY,
    patient_id         INTEGER REFERENCES patients (id),  -- NULL for system conditions
    key                TEXT NOT NULL,
    priority           TEXT NOT NULL CHECK (priority IN ('high','medium','low','technical')),
    state              TEXT NOT NULL CHECK (state IN ('active','acknowledged','resolved')),
    latched            INTEGER NOT NULL DEFAULT 0,
    message            TEXT NOT NULL,
    raised_ms          INTEGER NOT NULL,
    updated_ms         INTEGER NOT NULL,
    condition_ended_ms INTEGER,
    acked_by           TEXT,
    acked_ms           INTEGER,
    note               TEXT,
    last_notified_ms   INTEGER,
    notify_count       INTEGER NOT NULL DEFAULT 0,
    escalated_ms       INTEGER,
    escalated_to       TEXT,
    annotation         TEXT CHECK (annotation IN ('true','false','non_actionable')),
    annotated_by       TEXT,
    detail             TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO new_alarms
    (id, patient_id, key, priority, state, message, raised_ms, updated_ms, detail)
SELECT id, patient_id, condition, priority, state, message, raised_ms, updated_ms, detail
FROM alarms;
DROP TABLE alarms;
ALTER TABLE new_alarms RENAME TO alarms;
CREATE INDEX alarms_open ON alarms (state, priority, raised_ms);
CREATE INDEX alarms_patient_key ON alarms (patient_id, key, state);

-- A patient's alarms silenced until a time, up to a priority: a higher
-- priority breaks through.
CREATE TABLE alarm_silences (
    patient_id   INTEGER PRIMARY KEY REFERENCES patients (id),
    until_ms     INTEGER NOT NULL,
    max_priority TEXT NOT NULL,
    by_user      TEXT NOT NULL
);

-- Per-patient alarm limits overriding the ward's; removed at discharge.
CREATE TABLE patient_alarm_limits (
    patient_id INTEGER NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    vital      INTEGER NOT NULL,
    low        REAL,
    high       REAL,
    set_by     TEXT NOT NULL,
    set_ms     INTEGER NOT NULL,
    PRIMARY KEY (patient_id, vital)
);

-- Alerts a clinician sent on to a patient (through the cloud), with delivery.
CREATE TABLE patient_messages (
    id          INTEGER PRIMARY KEY,
    patient_id  INTEGER NOT NULL REFERENCES patients (id),
    alarm_id    INTEGER REFERENCES alarms (id),
    sent_by     TEXT NOT NULL,
    message     TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('queued','sent','failed')),
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    sequence    TEXT,                           -- the stream's sequence number once sent
    last_error  TEXT
);
"#,
    // 4 (in migration 1 from ecc5b45): pruning seen observation ids by age.
    r#"
CREATE INDEX seen_observations_received ON seen_observations (received_ms);
"#,
    // 5: a patient's birth date may be unknown (FHIR `Patient.birthDate` is
    // 0..1). SQLite cannot drop NOT NULL, so `patients` is rebuilt with the
    // same columns in the same order; ids are kept, so every reference holds.
    // (From here on a NULL side in `patient_alarm_limits` means "the ward's
    // limit", not "no limit": no schema change, see `alarms::book`.)
    r#"
CREATE TABLE new_patients (
    id              INTEGER PRIMARY KEY,
    mrn             TEXT NOT NULL UNIQUE,
    family_name     TEXT NOT NULL,
    given_name      TEXT NOT NULL,
    birth_date      TEXT,                       -- ISO 8601 date; NULL: unknown
    sex             TEXT NOT NULL CHECK (sex IN ('female','male','other','unknown')),
    ward            TEXT,
    bed             TEXT,
    attending       TEXT,
    spo2_scale      INTEGER NOT NULL DEFAULT 1 CHECK (spo2_scale IN (1, 2)),
    alert_consent   INTEGER NOT NULL DEFAULT 0 CHECK (alert_consent IN (0, 1)),
    baseline_hr     REAL,
    baseline_rr     REAL,
    baseline_sbp    REAL,
    baseline_spo2   REAL,
    baseline_temp_c REAL,
    admitted_ms     INTEGER,                    -- ms since the Unix epoch, UTC
    discharged_ms   INTEGER,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL
);
INSERT INTO new_patients SELECT * FROM patients;
DROP TABLE patients;
ALTER TABLE new_patients RENAME TO patients;
CREATE INDEX patients_ward_bed ON patients (ward, bed);
"#,
    // 6: every record counted once (issue 9): a digest of what each stored
    // observation said, so an id reused for other content is a conflict and
    // not a duplicate (NULL for ids stored before: taken as duplicates);
    // conflicts and quarantine entries dropped for its budget, per source;
    // a quarantined record's full length when only its head is kept.
    r#"
ALTER TABLE seen_observations ADD COLUMN digest INTEGER;
ALTER TABLE ingest_stats ADD COLUMN conflicts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ingest_stats ADD COLUMN quarantine_dropped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE quarantine ADD COLUMN raw_len INTEGER;
"#,
    // 7: whom each device measured, and corrections of misfiled data (issue
    // 9, item 11): a device's assignment history (the stream's MRN per
    // device, and every correction by a user), the device of each ECG
    // block, and scores marked superseded when the data under them moved.
    r#"
CREATE TABLE device_assignments (
    id          INTEGER PRIMARY KEY,
    device_id   INTEGER NOT NULL REFERENCES devices (id),
    patient_id  INTEGER NOT NULL REFERENCES patients (id),
    from_ms     INTEGER NOT NULL,
    to_ms       INTEGER,                        -- NULL: still assigned
    by_user     TEXT NOT NULL,                  -- 'stream', or who corrected it
    note        TEXT
);
CREATE INDEX device_assignments_device ON device_assignments (device_id, from_ms);
INSERT INTO device_assignments (device_id, patient_id, from_ms, to_ms, by_user)
    SELECT id, patient_id, coalesce(linked_ms, 0), unlinked_ms, 'stream'
    FROM devices WHERE patient_id IS NOT NULL;
ALTER TABLE ecg_blocks ADD COLUMN device_id INTEGER REFERENCES devices (id);
ALTER TABLE scores ADD COLUMN superseded_ms INTEGER;
"#,
    // 8: the data lake's outbox (issue 13, docs/data-lake.md). `lake_spool`
    // holds the raw and cleaned zones' lines, written in the same transaction
    // as the batch they came in, until they are sealed into an object;
    // `lake_objects` holds each sealed object (its bytes until a target has
    // acknowledged and verified them) and its sync state; `lake_targets` the
    // configured object stores (never credentials).
    r#"
CREATE TABLE lake_spool (
    -- AUTOINCREMENT: an id is never reused once its row is sealed, so the
    -- object key derived from it names one object only, ever.
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    zone        TEXT NOT NULL,                  -- 'raw' | 'cleaned'
    dataset     TEXT NOT NULL,                  -- 'observations' | 'quarantine'
    day         TEXT NOT NULL,                  -- YYYY-MM-DD (UTC)
    part        TEXT NOT NULL,                  -- 'source=…' | 'ward=…'
    created_ms  INTEGER NOT NULL,
    records     INTEGER NOT NULL,
    raw_bytes   INTEGER NOT NULL,               -- NDJSON bytes before compression
    data        BLOB NOT NULL                   -- zstd frame of NDJSON lines
);
CREATE INDEX lake_spool_group ON lake_spool (zone, dataset, day, part, id);
CREATE TABLE lake_objects (
    key         TEXT PRIMARY KEY,
    zone        TEXT NOT NULL,
    dataset     TEXT NOT NULL,
    day         TEXT NOT NULL,
    records     INTEGER NOT NULL,
    raw_bytes   INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    sha256      TEXT NOT NULL,                  -- hex, of the object's bytes
    md5         TEXT NOT NULL,                  -- hex: a single-part ETag
    created_ms  INTEGER NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'synced')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    last_attempt_ms INTEGER,
    target      TEXT,                           -- the target that holds it
    synced_ms   INTEGER,
    data        BLOB                            -- NULL once synced
);
CREATE INDEX lake_objects_pending ON lake_objects (state, created_ms);
CREATE TABLE lake_targets (
    name        TEXT PRIMARY KEY,
    url         TEXT NOT NULL,                  -- file:///dir or s3://bucket/prefix
    endpoint    TEXT,                           -- S3-compatible endpoint, NULL = AWS
    region      TEXT,
    storage_class TEXT,
    sse         TEXT,                           -- 'AES256' | 'aws:kms' | NULL
    sse_kms_key TEXT,
    profile     TEXT,                           -- AWS shared-config profile
    ca_bundle   TEXT,                           -- PEM file of extra trusted CAs
    created_ms  INTEGER NOT NULL,
    created_by  TEXT NOT NULL
);
"#,
    // 9: the curated zone's Apache Iceberg tables (issue 13,
    // docs/data-lake.md). The store is the tables' catalog: `lake_tables`
    // holds each table's current metadata file and the watermark of the
    // store's rows already in it, flipped together in one transaction after
    // the metadata file is written; `lake_table_intents` marks a commit
    // under way, so that one a crash interrupted has its files removed as
    // orphans (and counted) before the next. `lake_secrets` holds the key of
    // the patient pseudonyms (a keyed hash of the MRN); it never leaves the
    // store.
    r#"
CREATE TABLE lake_tables (
    name              TEXT PRIMARY KEY,         -- 'vitals_minute', 'scores', ...
    location          TEXT NOT NULL,            -- the table's root URI
    metadata_location TEXT NOT NULL,            -- its current metadata file
    watermark_ms      INTEGER NOT NULL,         -- store rows before this are in it
    snapshot_id       INTEGER,                  -- NULL: no data yet
    rows              INTEGER NOT NULL DEFAULT 0,
    commits           INTEGER NOT NULL DEFAULT 0,
    orphans_removed   INTEGER NOT NULL DEFAULT 0,
    updated_ms        INTEGER NOT NULL
);
CREATE TABLE lake_table_intents (
    name        TEXT PRIMARY KEY,               -- a table, made or not yet
    started_ms  INTEGER NOT NULL
);
CREATE TABLE lake_secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"#,
    // 10: the dataset catalogue (issue 14, docs/catalog.md). What each
    // curated commit added (`lake_table_files`: a data file per partition,
    // with its rows, bytes, and the pseudonymised patients and wards it
    // covers) and
    // each schema a table had (`lake_table_schemas`), recorded by the
    // curator; the catalogue's entries (`catalog_entries`, the truth the
    // tantivy index is derived from), every version of every entry
    // (`catalog_history`, whose `seq` also drives the index's incremental
    // updates), what an admin wrote about an entry (`catalog_annotations`)
    // and the manifests written to the lake (`catalog_manifests`).
    r#"
CREATE TABLE lake_table_files (
    path        TEXT PRIMARY KEY,               -- the data file's URI
    table_name  TEXT NOT NULL,
    day         TEXT NOT NULL,                  -- YYYY-MM-DD: its partition
    rows        INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    snapshot_id INTEGER NOT NULL,
    schema_id   INTEGER NOT NULL,
    first_ms    INTEGER,                        -- the rows' time range
    last_ms     INTEGER,
    patients    TEXT NOT NULL,                  -- JSON array of pseudonyms
    wards       TEXT NOT NULL,                  -- JSON array of wards
    committed_ms INTEGER NOT NULL
);
CREATE INDEX lake_table_files_day ON lake_table_files (table_name, day);
CREATE TABLE lake_table_schemas (
    table_name  TEXT NOT NULL,
    schema_id   INTEGER NOT NULL,
    fields      TEXT NOT NULL,                  -- JSON: name, type, required, doc
    created_ms  INTEGER NOT NULL,
    PRIMARY KEY (table_name, schema_id)
);
CREATE TABLE catalog_entries (
    id          TEXT PRIMARY KEY,               -- 'dataset:curated/scores', ...
    kind        TEXT NOT NULL,                  -- dataset | schema | partition | object
    body        TEXT NOT NULL,                  -- JSON of the entry
    digest      TEXT NOT NULL,                  -- SHA-256 of body, 16 hex digits
    version     INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    updated_by  TEXT NOT NULL
);
CREATE TABLE catalog_history (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL,
    version     INTEGER NOT NULL,
    at_ms       INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    change      TEXT NOT NULL CHECK (change IN ('created', 'updated', 'removed')),
    body        TEXT                            -- NULL when removed
);
CREATE INDEX catalog_history_id ON catalog_history (id, seq);
CREATE TABLE catalog_annotations (
    id          TEXT PRIMARY KEY,
    description TEXT,
    owner       TEXT,
    tags        TEXT NOT NULL,                  -- JSON array
    updated_ms  INTEGER NOT NULL,
    updated_by  TEXT NOT NULL
);
CREATE TABLE catalog_manifests (
    key         TEXT PRIMARY KEY,               -- _catalog/ZONE/DATASET/vNNNNNN-DIGEST.json
    dataset     TEXT NOT NULL,                  -- the dataset entry's id
    digest      TEXT NOT NULL,                  -- SHA-256 of the manifest's bytes
    written_ms  INTEGER NOT NULL
);
CREATE INDEX catalog_manifests_dataset ON catalog_manifests (dataset, written_ms);
"#,
    // 11: the tamper-evident audit trail (issue 12, SECURITY.md). Each new
    // entry carries its place in the chain (`seq`), the id of the key that
    // sealed it (kept outside the database), the previous entry's seal and
    // its own: an HMAC-SHA-256 over all of them (`store::audit`). Entries
    // from before this migration stay unsealed (`seq` NULL); the triggers
    // cannot be lifted to seal them, and a seal made now would vouch for
    // rows nobody can vouch for. `audit_chain` names the chain, so that its
    // head can be kept outside the store.
    r#"
ALTER TABLE audit_log ADD COLUMN seq INTEGER;
ALTER TABLE audit_log ADD COLUMN key_id TEXT;
ALTER TABLE audit_log ADD COLUMN prev_mac BLOB;
ALTER TABLE audit_log ADD COLUMN mac BLOB;
CREATE UNIQUE INDEX audit_log_seq ON audit_log (seq);
CREATE TABLE audit_chain (
    id          TEXT NOT NULL,                  -- random, 32 hex digits
    created_ms  INTEGER NOT NULL
);
INSERT INTO audit_chain (id, created_ms)
VALUES (lower(hex(randomblob(16))), CAST(unixepoch('subsec') * 1000 AS INTEGER));
"#,
    // 12: the audit chain's heads written to the lake (SECURITY.md): which
    // entry each head object vouches for, so that each is written once.
    r#"
CREATE TABLE audit_heads_published (
    seq         INTEGER PRIMARY KEY,            -- the entry the head names
    object_key  TEXT NOT NULL,                  -- _audit/CHAIN/head-SEQ.json
    written_ms  INTEGER NOT NULL
);
"#,
    // 13: authentication (issue 12, SECURITY.md): each user's Argon2id
    // password hash (PHC string; NULL: cannot log in until an admin sets
    // one), consecutive failed logins and the lock they earned, and the
    // sessions logins open (only a SHA-256 of each token is kept).
    r#"
ALTER TABLE users ADD COLUMN password_hash TEXT;
ALTER TABLE users ADD COLUMN password_set_ms INTEGER;
ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until_ms INTEGER;
CREATE TABLE sessions (
    token_sha256 BLOB PRIMARY KEY,
    username     TEXT NOT NULL REFERENCES users (username),
    client       TEXT NOT NULL,                 -- what opened it: cli, desktop
    created_ms   INTEGER NOT NULL,
    last_used_ms INTEGER NOT NULL,
    expires_ms   INTEGER NOT NULL               -- the absolute end
);
CREATE INDEX sessions_user ON sessions (username);
"#,
    // 14: service accounts (issue 12, SECURITY.md): the headless runtime's
    // identity, which logs in for `serve` only, never interactively.
    r#"
ALTER TABLE users ADD COLUMN service INTEGER NOT NULL DEFAULT 0 CHECK (service IN (0, 1));
"#,
    // 15: an Iceberg REST catalog per lake target (issue 13, docs/data-lake.md):
    // where set, the curated tables are created and committed through it
    // (it owns their locations), and their descriptions and tags are its
    // table properties; `iceberg_signing` names the SigV4 service its
    // requests are signed for (NULL: unsigned); `iceberg_namespace` the
    // tables' namespace in it (NULL: `wardwatch`).
    r#"
ALTER TABLE lake_targets ADD COLUMN iceberg_catalog TEXT;
ALTER TABLE lake_targets ADD COLUMN iceberg_signing TEXT;
ALTER TABLE lake_targets ADD COLUMN iceberg_namespace TEXT;
"#,
    // 16: a PEM file of CA certificates a Kinesis source trusts beside the
    // system's (its endpoint behind a hospital's own CA).
    r#"
ALTER TABLE sources ADD COLUMN ca_bundle TEXT;
"#,
    // 17: observations nurses chart by hand (issue 11): ACVPU, supplemental
    // oxygen, manual BP, temperature, RR, HR, SpO2. Each row is one FHIR
    // Observation (`fhir`, the wire format) that the runtime ingests as the
    // built-in source `charted` (sequence = id), so a charted value is
    // stored, scored and synced to the lake like a streamed one; who
    // charted it, when, and the oxygen device or a note stay here.
    r#"
CREATE TABLE charted_observations (
    id          INTEGER PRIMARY KEY,
    patient_id  INTEGER NOT NULL REFERENCES patients (id),
    observed_ms INTEGER NOT NULL,
    entered_ms  INTEGER NOT NULL,
    entered_by  TEXT NOT NULL,
    detail      TEXT,                          -- oxygen device, a note
    fhir        TEXT NOT NULL
);
CREATE INDEX charted_observations_patient ON charted_observations (patient_id, observed_ms);
"#,
    // 18: each hour's own summary beside its minutes (issue 11, the history
    // view): readings, min, max and sum in value units x10 (store::rollup),
    // covered by an index, so months of history read ~40 bytes per hour
    // instead of the 600-byte blob. NULL in rows written before: those
    // hours are read from their blob.
    r#"
ALTER TABLE vital_rollups ADD COLUMN n INTEGER;
ALTER TABLE vital_rollups ADD COLUMN lo INTEGER;
ALTER TABLE vital_rollups ADD COLUMN hi INTEGER;
ALTER TABLE vital_rollups ADD COLUMN total INTEGER;
CREATE INDEX vital_rollups_hours ON vital_rollups (patient_id, vital, hour_ms, n, lo, hi, total);
"#,
    // 19: the deduplication state bounded (issue 16). `seen_observations`
    // kept each observation id's text for the longest retention window (72 h
    // by default): ~110 bytes a record with its index, 55 MB per patient-day,
    // three times the ECG itself. `seen_ids` keeps a 64-bit hash of the id
    // for `store::dedup::DEDUP_WINDOW` only. A record delivered again later
    // is still recognised by what it says (`already_held`): the same samples
    // are a duplicate, other values at the same instant a conflict. The ids
    // held are dropped with the old table: that check covers them.
    r#"
DROP INDEX seen_observations_received;
DROP TABLE seen_observations;
CREATE TABLE seen_ids (
    id_hash     INTEGER PRIMARY KEY,            -- FNV-1a 64 of the observation id
    received_ms INTEGER NOT NULL,
    digest      INTEGER NOT NULL                -- Observation::digest, for conflicts
);
CREATE INDEX seen_ids_received ON seen_ids (received_ms);
"#,
    // 20: raw numeric samples packed in minute blocks (issue 16,
    // store::numerics): `vital_samples` cost ~32 bytes a sample, 12.7 MB per
    // patient-day; a block's samples cost 3–5 bytes each. The rows are
    // packed by `after_sql` (Rust), which then drops `vital_samples`.
    r#"
CREATE TABLE vital_blocks (
    patient_id INTEGER NOT NULL REFERENCES patients (id),
    vital      INTEGER NOT NULL,                -- model::Vital's code
    minute_ms  INTEGER NOT NULL,                -- the block's minute (UTC)
    n          INTEGER NOT NULL,                -- samples in `data`
    data       BLOB NOT NULL,                   -- store::numerics codec
    PRIMARY KEY (patient_id, vital, minute_ms)
) WITHOUT ROWID;
"#,
    // 21: the observation ids seen lately move to memory (issue 16,
    // store::dedup): `seen_ids`' random keys had every batch dirty nearly
    // every page of it, most of a commit's writes at 10,000 patients. A
    // record delivered again is still recognised by its content.
    r#"
DROP INDEX seen_ids_received;
DROP TABLE seen_ids;
"#,
    // 22: a count of the changes to patient records (the patient and its
    // lists), kept by triggers in the transaction that makes them, so that
    // a connection's `PatientCache` outlives the commits of other
    // connections that do not touch a record: the runtime's lake, alarm
    // and delivery threads commit many times a second, and each of their
    // commits emptied it (5 % of `serve`'s samples at 2,000 patients were
    // the scorer reading records again).
    r#"
CREATE TABLE patient_changes (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO patient_changes (id, version) VALUES (1, 0);
CREATE TRIGGER patients_insert_counted AFTER INSERT ON patients
BEGIN UPDATE patient_changes SET version = version + 1; END;
CREATE TRIGGER patients_update_counted AFTER UPDATE ON patients
BEGIN UPDATE patient_changes SET version = version + 1; END;
CREATE TRIGGER patients_delete_counted AFTER DELETE ON patients
BEGIN UPDATE patient_changes SET version = version + 1; END;
CREATE TRIGGER patient_conditions_insert_counted AFTER INSERT ON patient_conditions
BEGIN UPDATE patient_changes SET version = version + 1; END;
CREATE TRIGGER patient_conditions_update_counted AFTER UPDATE ON patient_conditions
BEGIN UPDATE patient_changes SET version = version + 1; END;
CREATE TRIGGER patient_conditions_delete_counted AFTER DELETE ON patient_conditions
BEGIN UPDATE patient_changes SET version = version + 1; END;
CREATE TRIGGER patient_medications_insert_counted AFTER INSERT ON patient_medications
BEGIN UPDATE patient_changes SET version = version + 1; END;
CREATE TRIGGER patient_medications_update_counted AFTER UPDATE ON patient_medications
BEGIN UPDATE patient_changes SET version = version + 1; END;
CREATE TRIGGER patient_medications_delete_counted AFTER DELETE ON patient_medications
BEGIN UPDATE patient_changes SET version = version + 1; END;
CREATE TRIGGER patient_allergies_insert_counted AFTER INSERT ON patient_allergies
BEGIN UPDATE patient_changes SET version = version + 1; END;
CREATE TRIGGER patient_allergies_update_counted AFTER UPDATE ON patient_allergies
BEGIN UPDATE patient_changes SET version = version + 1; END;
CREATE TRIGGER patient_allergies_delete_counted AFTER DELETE ON patient_allergies
BEGIN UPDATE patient_changes SET version = version + 1; END;
"#,
    // 23: the minute rollups' journal (issue 16, `rollup_journal`): a
    // runtime writer appends each transaction's new minutes here, in
    // arrival order, a row per part of the patients
    // (`rollup_journal::PARTS`), and folds the parts into `vital_rollups`
    // in turn, instead of rewriting each patient's hour row on every batch.
    r#"
CREATE TABLE rollup_journal (
    id   INTEGER PRIMARY KEY,
    part INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX rollup_journal_parts ON rollup_journal (part, id);
"#,
    // 24: `vital_blocks` keyed by minute first (issue 16): each batch
    // rewrites every monitored patient's open minute, and keyed by patient
    // first each of those blocks sat on a page of its own among the
    // patient's earlier minutes, so a batch wrote a page per block (41 MB
    // of WAL a commit for 2,000 patients with two hours stored, against
    // 0.8 MB keyed by minute, bench/vital_blocks.py). A patient's minutes
    // are found through `vital_blocks_patient`.
    r#"
CREATE TABLE new_vital_blocks (
    patient_id INTEGER NOT NULL REFERENCES patients (id),
    vital      INTEGER NOT NULL,
    minute_ms  INTEGER NOT NULL,
    n          INTEGER NOT NULL,
    data       BLOB NOT NULL,
    PRIMARY KEY (minute_ms, patient_id, vital)
) WITHOUT ROWID;
INSERT INTO new_vital_blocks (patient_id, vital, minute_ms, n, data)
    SELECT patient_id, vital, minute_ms, n, data FROM vital_blocks ORDER BY minute_ms, patient_id, vital;
DROP TABLE vital_blocks;
ALTER TABLE new_vital_blocks RENAME TO vital_blocks;
CREATE INDEX vital_blocks_patient ON vital_blocks (patient_id, vital, minute_ms);
"#,
    // 25: the curated zone's reads by time (issue 16): the lake's hourly
    // read of every patient's newest minutes, scores, rhythm findings and
    // alarm changes selects by time alone, and with the keys and indexes
    // leading with the patient each pass scanned whole tables, all their
    // history (the newest hour of 24 patients: 547 ms over 152,064 hour
    // rows of minutes, 144 ms over a week of 10-second heart rates,
    // `cargo bench -p wardwatch-core --bench history`). About 14 bytes a
    // row; rhythm events, rare among scores, have a partial index.
    r#"
CREATE INDEX vital_rollups_by_hour ON vital_rollups (hour_ms);
CREATE INDEX scores_by_time ON scores (ts_ms);
CREATE INDEX scores_events_by_time ON scores (ts_ms) WHERE kind = 'ecg_event';
CREATE INDEX alarms_by_update ON alarms (updated_ms);
"#,
    // 26: a count of other connections' writes to the numeric and ECG
    // blocks (issue 16). The runtime's writer keeps its patients' open
    // blocks from one batch to the next, and emptied them whenever any
    // other connection committed — the stage's alarms, the lake's sync,
    // every few batches at 10,000 patients — so it read back 15 times as
    // many blocks as it wrote new. Every connection but that writer counts
    // its writes to the blocks here (TEMP triggers, set as a `Store` opens), and the
    // writer keeps its blocks while the count stands.
    r#"
CREATE TABLE block_changes (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO block_changes (id, version) VALUES (1, 0);
"#,
    // 27: records a source lost before the runtime read them (issue 16's
    // soak: a gateway's replay buffer ran over while `serve` was behind,
    // and nothing counted it): its notices and the records they named.
    r#"
ALTER TABLE ingest_stats ADD COLUMN gaps INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ingest_stats ADD COLUMN lost INTEGER NOT NULL DEFAULT 0;
"#,
    // 28: ECG blocks keyed by their second first (issue 16). Under
    // `UNIQUE (patient_id, lead, start_ms)` each new block landed in a leaf
    // of the index of its own — a commit's few hundred blocks of as many
    // patients dirtied as many leaves, a fifth of all `serve` wrote at
    // 10,000 patients (`bench/ecg_blocks.py`: 5,306 bytes of WAL a block).
    // Led by the block's second, a commit's blocks share the leaves of the
    // last seconds (749 bytes a block). The key is as unique as before (the
    // second is a function of `start_ms`), so `INSERT OR IGNORE` still
    // deduplicates; readers name `start_ms / 1000` to seek a patient's
    // blocks second by second (`store::vitals::ECG_SECONDS`). The table
    // constraint goes, so the table is rebuilt.
    r#"
CREATE TABLE new_ecg_blocks (
    id         INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patients (id),
    lead       INTEGER NOT NULL,                -- IEEE 11073 MDC code of the lead
    start_ms   INTEGER NOT NULL,
    period_ns  INTEGER NOT NULL,                -- sampling period, nanoseconds
    n_samples  INTEGER NOT NULL,
    origin_mv  REAL NOT NULL,
    factor_mv  REAL NOT NULL,
    encoding   INTEGER NOT NULL,
    data       BLOB NOT NULL,
    device_id  INTEGER REFERENCES devices (id)
);
INSERT INTO new_ecg_blocks
    (id, patient_id, lead, start_ms, period_ns, n_samples, origin_mv, factor_mv, encoding, data, device_id)
SELECT id, patient_id, lead, start_ms, period_ns, n_samples, origin_mv, factor_mv, encoding, data, device_id
FROM ecg_blocks;
DROP TABLE ecg_blocks;
ALTER TABLE new_ecg_blocks RENAME TO ecg_blocks;
CREATE UNIQUE INDEX ecg_blocks_key ON ecg_blocks (start_ms / 1000, patient_id, lead, start_ms);
"#,
];

/// What a migration does in Rust after its SQL, in the same transaction.
pub(crate) fn after_sql(version: i64, tx: &rusqlite::Transaction<'_>) -> crate::error::Result<()> {
    match version {
        20 => super::numerics::pack_rows_of_migration_20(tx),
        _ => Ok(()),
    }
}

/// The version a store that records version 1 really holds. Builds from
/// fa62508 to 3db3bf8 ran an edited migration 1 and recorded version 1 for
/// it. Each edit added something no earlier schema has, so the newest of
/// those marks is the version the store holds: migrations 2 to 4 make the
/// same schema as those edits (the integration tests compare them).
pub(crate) fn actual_version_of_v1_store(conn: &Connection) -> rusqlite::Result<i64> {
    let marks = [
        (4, "index", "seen_observations_received"),
        (3, "table", "alarm_silences"),
        (2, "table", "seen_observations"),
    ];
    for (version, kind, name) in marks {
        let found: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = ?1 AND name = ?2)",
            [kind, name],
            |r| r.get(0),
        )?;
        if found {
            return Ok(version);
        }
    }
    Ok(1)
}
