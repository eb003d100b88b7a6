#!/usr/bin/env bash
# Compares Wardwatch's QRS detector with wfdb's XQRS (Python) on MIT-BIH
# record 100 in the same run: accuracy (Se, +P at ±150 ms) and speed as
# multiples of real time on one core. Measures only; asserts nothing.
#   bench/score/run.sh [DATA_DIR]     (default WARDWATCH_TESTDATA, else ../shared/data)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DATA="${1:-${WARDWATCH_TESTDATA:-$ROOT/../shared/data}}"
VENV="$ROOT/.tools/venv-bench"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target-bench}"

if [ ! -f "$DATA/mitdb/100.hea" ]; then
  echo "bench: test data missing: $DATA/mitdb/100.hea not found (set WARDWATCH_TESTDATA)" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import wfdb" 2>/dev/null; then
  echo "bench: creating $VENV with wfdb" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q wfdb
fi

# One thread everywhere, so "× real time" is per core for both.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMEXPR_NUM_THREADS=1
cargo build -q --release -p wardwatch-score --example bench_qrs --manifest-path "$ROOT/Cargo.toml"
RUST_JSON="$(taskset -c 0 "$CARGO_TARGET_DIR/release/examples/bench_qrs" "$DATA" 2>/dev/null \
  || "$CARGO_TARGET_DIR/release/examples/bench_qrs" "$DATA")"
# The OPENBLAS_* overrides of this workplace slow current numpy; drop them for
# the baseline only, so it is not handicapped.
PY_JSON="$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE taskset -c 0 "$VENV/bin/python" "$ROOT/bench/score/xqrs.py" "$DATA")"

mkdir -p "$ROOT/bench/out"
printf '{"wardwatch":%s,"xqrs":%s}\n' "$RUST_JSON" "$PY_JSON" > "$ROOT/bench/out/score-qrs.json"

"$VENV/bin/python" - "$RUST_JSON" "$PY_JSON" <<'PY'
import json, sys
r, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"MIT-BIH 100 MLII, {r['duration_s']:.0f} s, {r['reference_beats']} reference beats, ±150 ms, 1 thread")
print(f"{'detector':<28}{'beats':>7}{'TP':>6}{'FN':>5}{'FP':>5}{'Se %':>9}{'+P %':>9}{'time s':>10}{'x real time':>13}")
rows = [("wardwatch QRS (detect)", r, r["detect_s"], r["detect_x_realtime"]),
        ("wardwatch analyze_ecg", r, r["analyze_s"], r["analyze_x_realtime"]),
        (f"wfdb {p['wfdb_version']} XQRS", p, p["detect_s"], p["detect_x_realtime"])]
for name, d, t, x in rows:
    print(f"{name:<28}{d['detected_beats']:>7}{d['tp']:>6}{d['fn']:>5}{d['fp']:>5}"
          f"{d['se_pct']:>9.2f}{d['ppv_pct']:>9.2f}{t:>10.4f}{x:>13.0f}")
print(f"speed ratio, detection (wardwatch / XQRS): {p['detect_s'] / r['detect_s']:.0f}x")
print(f"speed ratio, full analysis vs XQRS detection: {p['detect_s'] / r['analyze_s']:.0f}x")
PY

# The whole MIT-BIH database through the live path (issue 10): QRS, VEB,
# AF duration, VT runs, VF/flutter, asystole. Measures only.
echo
echo "MIT-BIH Arrhythmia Database, all 48 records, live path (EcgStream), first signal:"
cargo build -q --release -p wardwatch-score --example eval_mitdb --manifest-path "$ROOT/Cargo.toml"
"$CARGO_TARGET_DIR/release/examples/eval_mitdb" "$DATA" | tee "$ROOT/bench/out/score-mitdb.txt"

# The Challenge 2015 false-alarm records (issue 15): the Challenge's score in
# real time, every alarm confirmed beside the ECG-only and the ECG + pulse
# decisions, in the same run. Measures only.
echo
echo "PhysioNet/CinC Challenge 2015, 53 alarms, real time (data to the alarm):"
cargo build -q --release -p wardwatch-score --example eval_challenge --manifest-path "$ROOT/Cargo.toml"
"$CARGO_TARGET_DIR/release/examples/eval_challenge" "$DATA" | tee "$ROOT/bench/out/score-challenge.txt"
