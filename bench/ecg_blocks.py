#!/usr/bin/env python3
"""Write amplification of `ecg_blocks`' unique key (issue 16).

Each patient's monitor sends a block of ECG every 2 s, at its own phase; the
runtime's writer stores the blocks as they complete, a few hundred a
commit. This builds a store holding HISTORY seconds of such blocks for
PATIENTS patients (one lead, 350 bytes a block, as the codec stores 2 s at
250 Hz), then makes COMMITS commits of PER blocks in arrival order and
prints the WAL bytes a block costs under each unique key:
- patient first, `(patient_id, lead, start_ms)` — the store's: each new
  block lands in a leaf of its own patient, so a commit dirties a leaf per
  block;
- a time bucket first, `(start_ms / B, patient_id, lead, start_ms)` — the
  blocks of one bucket share leaves, and a patient's blocks are still one
  seek per bucket away;
- no index at all, the floor (the table alone, appended to).
SQLite without encryption (each page SQLCipher would also encrypt).
Measures only.

    python3 bench/ecg_blocks.py [PATIENTS [HISTORY_S [PER [COMMITS]]]]   (10000 300 330 30)
"""
import os
import random
import sqlite3
import sys
import tempfile

ARGS = [int(a) for a in sys.argv[1:5]]
PATIENTS, HISTORY_S, PER, COMMITS = ARGS + [10000, 300, 330, 30][len(ARGS):]
BLOCK_MS = 2000
LEAD = 131329  # MDC_ECG_LEAD_II


def arrivals(phase, t0, t1):
    """(arrival ms, patient, start ms) of the blocks completing in [t0, t1), in arrival order."""
    out = []
    for p, ph in enumerate(phase):
        start = ph + BLOCK_MS * ((t0 - BLOCK_MS - ph + BLOCK_MS - 1) // BLOCK_MS)
        while start + BLOCK_MS < t1:
            if start + BLOCK_MS >= t0:
                out.append((start + BLOCK_MS, p, start))
            start += BLOCK_MS
    out.sort()
    return out


def measure(key, phase):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "store.db")
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA wal_autocheckpoint=0")
        db.execute(
            "CREATE TABLE ecg_blocks (id INTEGER PRIMARY KEY, patient_id INTEGER NOT NULL,"
            " lead INTEGER NOT NULL, start_ms INTEGER NOT NULL, n_samples INTEGER NOT NULL, data BLOB NOT NULL)"
        )
        if key is not None:
            db.execute(f"CREATE UNIQUE INDEX ecg_blocks_key ON ecg_blocks {key}")
        insert = "INSERT OR IGNORE INTO ecg_blocks (patient_id, lead, start_ms, n_samples, data) VALUES (?, ?, ?, 500, ?)"
        block = os.urandom(350)
        db.execute("BEGIN")
        for _, p, start in arrivals(phase, 0, HISTORY_S * 1000):
            db.execute(insert, (p, LEAD, start, block))
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        live = arrivals(phase, HISTORY_S * 1000, HISTORY_S * 1000 + 2 * BLOCK_MS * (1 + PER * COMMITS // PATIENTS))
        wal = []
        for c in range(0, min(len(live), PER * COMMITS), PER):
            db.execute("BEGIN")
            for _, p, start in live[c:c + PER]:
                db.execute(insert, (p, LEAD, start, block))
            db.execute("COMMIT")
            wal.append(os.path.getsize(path + "-wal"))
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
    wal.sort()
    return wal[len(wal) // 2]


random.seed(16)
phase = [random.randrange(BLOCK_MS) for _ in range(PATIENTS)]
print(f"{PATIENTS} patients, a {BLOCK_MS // 1000}-s block each every {BLOCK_MS // 1000} s, {HISTORY_S} s stored; commits of {PER} blocks")
print(f"{'unique key':<52}{'WAL bytes/commit':>18}{'per block':>11}")
for name, key in [
    ("(patient_id, lead, start_ms)", "(patient_id, lead, start_ms)"),
    ("(start_ms / 1000, patient_id, lead, start_ms)", "(start_ms / 1000, patient_id, lead, start_ms)"),
    ("(start_ms / 2000, patient_id, lead, start_ms)", "(start_ms / 2000, patient_id, lead, start_ms)"),
    ("none (the floor)", None),
]:
    wal = measure(key, phase)
    print(f"{name:<52}{wal:>18}{wal // PER:>11}", flush=True)
