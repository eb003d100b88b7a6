#!/usr/bin/env bash
# Issue 9, item 4: a source that floods the quarantine. Runs the real
# `wardwatchctl serve` against a hostile SSE gateway (bench/flood/flooder.py)
# sending COUNT junk events of SIZE bytes, and reports the runtime's peak
# memory, the store's growth, the quarantine's size and whether the flood
# alarm was raised; the baseline is the same runtime idle on the same store
# before the flood, measured in the same run.
#
#   bash bench/flood/run.sh [COUNT] [SIZE] [MAX_MB]
#   (defaults: 600 events of 4 MB, the review's flood; quarantine budget 256)
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=${1:-600}
SIZE=${2:-4000000}
MAX_MB=${3:-256}
cargo build --release -q -p wardwatchctl
BIN=$PWD/target/release/wardwatchctl
WORK=$(mktemp -d)
chmod 700 "$WORK"
DATA=$WORK/data
PORT=$((20000 + RANDOM % 20000))
cleanup() {
    [[ -n ${SERVE:-} ]] && kill "$SERVE" 2>/dev/null || true
    [[ -n ${FLOOD:-} ]] && kill "$FLOOD" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
# The bench's own keys and password, removed with $WORK.
export WARDWATCH_KEY_DIR=$WORK/keys
printf 'bench flood pass phrase\n' >"$WORK/pw"
chmod 600 "$WORK/pw"
export WARDWATCH_PASSWORD_FILE=$WORK/pw
ctl() { "$BIN" --data-dir "$DATA" --user bench "$@"; }
ctl demo load >/dev/null
ctl settings set quarantine.max_mb "$MAX_MB" >/dev/null
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
store_kb() { du -sk "$DATA" | cut -f1; }

WARDWATCH_LOG=error "$BIN" --data-dir "$DATA" --user bench serve >/dev/null 2>&1 &
SERVE=$!
sleep 5
idle_rss=$(rss "$SERVE")
idle_store=$(store_kb)

python3 bench/flood/flooder.py "$PORT" "$COUNT" "$SIZE" &
FLOOD=$!
sleep 0.5
start=$(date +%s.%N)
ctl sources add sse flood "http://127.0.0.1:$PORT/" >/dev/null
# The runtime reads its sources at start: restart it onto the flood.
kill -INT "$SERVE"; wait "$SERVE" || true
WARDWATCH_LOG=error "$BIN" --data-dir "$DATA" --user bench serve >/dev/null 2>&1 &
SERVE=$!
peak=0
while :; do
    got=$(ctl ingest status --json | python3 -c 'import json,sys; print(sum(s["quarantined"] for s in json.load(sys.stdin)))')
    now_rss=$(rss "$SERVE" || echo 0)
    (( now_rss > peak )) && peak=$now_rss
    (( got >= COUNT )) && break
    sleep 0.2
done
end=$(date +%s.%N)
peak=$(( $(hwm "$SERVE") > peak ? $(hwm "$SERVE") : peak ))
store=$(store_kb)
alarm=$(ctl alarms list --json 2>/dev/null | python3 -c 'import json,sys; print(any(a["key"]=="tech:quarantine:flood" for a in json.load(sys.stdin)))')
q_bytes=$(ctl ingest quarantine --limit 100000 --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d), sum(q["raw_len"] for q in d), sum(len(q["raw"].get("text", q["raw"].get("base64",""))) for q in d))')
read -r q_rows q_received q_kept <<<"$q_bytes"
python3 - "$COUNT" "$SIZE" "$idle_rss" "$peak" "$idle_store" "$store" "$start" "$end" "$alarm" "$q_rows" "$q_received" "$q_kept" <<'PY'
import sys
count, size, idle, peak, s0, s1, t0, t1, alarm, rows, received, kept = sys.argv[1:]
count, size, idle, peak, s0, s1, rows, received, kept = map(int, (count, size, idle, peak, s0, s1, rows, received, kept))
secs = float(t1) - float(t0)
print(f"flood: {count} junk events of {size/1e6:.1f} MB ({count*size/1e9:.2f} GB) in {secs:.1f} s")
print(f"runtime memory: idle {idle/1024:.0f} MB, peak under the flood {peak/1024:.0f} MB ({peak/idle:.1f}x idle)")
print(f"store: {s0/1024:.1f} MB before, {s1/1024:.1f} MB after (+{(s1-s0)/1024:.1f} MB for {count*size/1e6:.0f} MB received)")
print(f"quarantine: {rows} entries, {received/1e6:.0f} MB received, {kept/1e6:.1f} MB of heads kept")
print(f"tech:quarantine:flood raised: {alarm}")
PY
