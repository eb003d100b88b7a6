-- Migration 1 as 5de72fc edited it in place (the alarm tables), which every
-- build from 5de72fc until ecc5b45 ran. A fixture copied from git; never edit
-- it.
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
-- ARCHITECTURE.md); older history lives in vital_rollups. `vital` is the
-- code of model::Vital. status 0 = a measured value, 1 = signal lost (value
-- NULL): "no signal" is never stored as a number.
CREATE TABLE vital_samples (
    patient_id INTEGER NOT NULL REFERENCES patients (id),
    vital      INTEGER NOT NULL,
    ts_ms      INTEGER NOT NULL,
    value      REAL,
    status     INTEGER NOT NULL DEFAULT 0,
    device_id  INTEGER REFERENCES devices (id),
    PRIMARY KEY (patient_id, vital, ts_ms)
) WITHOUT ROWID;

-- ECG in blocks of a few seconds: the integer samples as the sensor sent
-- them (mV = origin_mv + factor_mv * sample), so a replayed recording is
-- stored bit-exact; `encoding` names the codec (ingest::codec) so it can
-- change without a migration.
CREATE TABLE ecg_blocks (
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

-- Per-minute rollups, one row per patient, vital and hour: `data` packs 60
-- minutes of (count u16, min i16, max i16, sum i32), values in units x10,
-- little-endian, 600 bytes (store::rollup). One row per minute would cost
-- several times more (ARCHITECTURE.md).
CREATE TABLE vital_rollups (
    patient_id INTEGER NOT NULL REFERENCES patients (id),
    vital      INTEGER NOT NULL,
    hour_ms    INTEGER NOT NULL,
    data       BLOB NOT NULL,
    PRIMARY KEY (patient_id, vital, hour_ms)
);

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

CREATE TABLE scores (
    id         INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patients (id),
    kind       TEXT NOT NULL,                   -- news2, cardiac_risk, ...
    ts_ms      INTEGER NOT NULL,
    value      REAL NOT NULL,
    detail     TEXT NOT NULL                    -- JSON: sub-scores, contributors
);
CREATE INDEX scores_patient_kind_ts ON scores (patient_id, kind, ts_ms);

-- One row per alarm episode: a condition that started, until it is resolved.
-- `key` identifies the condition (e.g. `asystole`, `hr_high`,
-- `tech:stream_stalled`); a new episode of the same key gets a new row only
-- once the previous one is resolved (alarms::book).
CREATE TABLE alarms (
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
    sequence    TEXT,
    code        TEXT NOT NULL,                  -- ingest::Rejection code: invalid_json, unknown_patient, ...
    reason      TEXT NOT NULL,
    raw         BLOB NOT NULL
);
CREATE INDEX quarantine_code ON quarantine (code);
