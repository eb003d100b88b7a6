#!/usr/bin/env python3
"""Write amplification of `vital_blocks`' key order (issue 16).

Each runtime batch rewrites every monitored patient's open minute block. This
builds a store holding HISTORY minutes of blocks for PATIENTS patients and 5
vitals, minute by minute as a ward's arrive, in each key order — patient first
(the store's until migration 24) and minute first with an index by patient
(since) — then times COMMITS commits that each rewrite every patient's open
minute (a block growing a few bytes a batch), and prints the WAL bytes each
commit wrote. Interleaved twice so a busy machine shows. Measures only.

    python3 bench/vital_blocks.py [PATIENTS [HISTORY_MIN [COMMITS]]]   (2000 120 20)
"""
import os
import sqlite3
import sys
import tempfile
import time

ARGS = [int(a) for a in sys.argv[1:4]]
PATIENTS, HISTORY, COMMITS = ARGS + [2000, 120, 20][len(ARGS):]
VITALS = 5


def build(path, minute_first):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    key = "(minute_ms, patient_id, vital)" if minute_first else "(patient_id, vital, minute_ms)"
    db.execute(
        "CREATE TABLE vital_blocks (patient_id INTEGER NOT NULL, vital INTEGER NOT NULL,"
        f" minute_ms INTEGER NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY {key}) WITHOUT ROWID"
    )
    if minute_first:
        db.execute("CREATE INDEX vital_blocks_patient ON vital_blocks (patient_id, vital, minute_ms)")
    block = os.urandom(200)  # a full minute at 1 Hz is 150-300 bytes
    db.execute("BEGIN")
    for minute in range(HISTORY):
        for p in range(PATIENTS):
            for v in range(VITALS):
                db.execute("INSERT INTO vital_blocks VALUES (?, ?, ?, 60, ?)", (p, v, minute * 60_000, block))
        if minute % 30 == 29:
            db.execute("COMMIT")
            db.execute("BEGIN")
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("PRAGMA wal_autocheckpoint=0")
    return db


def measure(minute_first):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "store.db")
        db = build(path, minute_first)
        key = "(minute_ms, patient_id, vital)" if minute_first else "(patient_id, vital, minute_ms)"
        upsert = (
            "INSERT INTO vital_blocks VALUES (?, ?, ?, ?, ?)"
            f" ON CONFLICT {key} DO UPDATE SET n = excluded.n, data = excluded.data"
        )
        open_minute = HISTORY * 60_000
        times, wal = [], []
        for k in range(COMMITS):
            block = os.urandom(8 + 4 * k)
            t0 = time.perf_counter()
            db.execute("BEGIN")
            for p in range(PATIENTS):
                for v in range(VITALS):
                    db.execute(upsert, (p, v, open_minute, k + 1, block))
            db.execute("COMMIT")
            times.append(time.perf_counter() - t0)
            wal.append(os.path.getsize(path + "-wal"))
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = os.path.getsize(path)
        db.close()
    times.sort()
    wal.sort()
    return times[len(times) // 2] * 1000, wal[len(wal) // 2] / 1e6, size / 1e6


print(f"{PATIENTS} patients x {VITALS} vitals, {HISTORY} minutes stored; a commit rewrites every open minute")
print(f"{'key':<16}{'commit ms p50':>15}{'WAL MB/commit':>15}{'store MB':>10}")
for minute_first in (False, True, False, True):
    ms, mb, size = measure(minute_first)
    print(f"{'minute first' if minute_first else 'patient first':<16}{ms:>15.0f}{mb:>15.2f}{size:>10.0f}", flush=True)
