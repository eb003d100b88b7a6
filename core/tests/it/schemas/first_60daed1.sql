-- Migration 1 as it first landed in 60daed1 (the first schema), which every
-- build before fa62508 ran. A fixture copied from git; never edit it.
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
