"""Baseline for bench/score/run.sh: wfdb's XQRS detector (PyPI `wfdb`) on
MIT-BIH record 100, lead MLII. Times detection only (file reading excluded,
median of several runs, one thread) and scores it against 100.atr with the
same rule as the Rust benchmark: one-to-one matches within +-150 ms.
Prints one JSON object."""

import json
import os
import statistics
import sys
import time

import wfdb
from wfdb import processing

BEATS = set("N L R B A a J S V r F e j n E / f Q ?".split())
REPEATS = 3


def compare(reference, detected, tolerance):
    """Time-ordered one-to-one matching (as in bxb / the Rust compare_beats)."""
    i = j = tp = 0
    while i < len(reference) and j < len(detected):
        r, d = reference[i], detected[j]
        if d + tolerance < r:
            j += 1
        elif r + tolerance < d:
            i += 1
        else:
            if j + 1 < len(detected) and abs(detected[j + 1] - r) < abs(d - r):
                j += 1
                continue
            tp += 1
            i += 1
            j += 1
    fn, fp = len(reference) - tp, len(detected) - tp
    return tp, fn, fp


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("WARDWATCH_TESTDATA")
    if not data:
        data = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")
    base = os.path.join(data, "mitdb", "100")
    if not os.path.isfile(base + ".hea"):
        sys.exit(f"test data missing: `{base}.hea` not found (set WARDWATCH_TESTDATA)")
    record = wfdb.rdrecord(base)
    lead = record.sig_name.index("MLII")
    signal = record.p_signal[:, lead]
    fs = record.fs
    ann = wfdb.rdann(base, "atr")
    reference = [int(s) for s, sym in zip(ann.sample, ann.symbol) if sym in BEATS]

    times, detected = [], None
    for _ in range(REPEATS):
        t = time.perf_counter()
        detected = processing.xqrs_detect(sig=signal, fs=fs, verbose=False)
        times.append(time.perf_counter() - t)
    detected = sorted(int(x) for x in detected)
    tp, fn, fp = compare(reference, detected, int(0.150 * fs))
    duration_s = len(signal) / fs
    seconds = statistics.median(times)
    print(json.dumps({
        "detector": "wfdb XQRS",
        "wfdb_version": wfdb.__version__,
        "duration_s": round(duration_s, 3),
        "reference_beats": len(reference),
        "detected_beats": len(detected),
        "tp": tp, "fn": fn, "fp": fp,
        "se_pct": round(100.0 * tp / (tp + fn), 3),
        "ppv_pct": round(100.0 * tp / (tp + fp), 3),
        "detect_s": round(seconds, 4),
        "detect_x_realtime": round(duration_s / seconds, 1),
    }))


if __name__ == "__main__":
    main()
