#!/usr/bin/env bash
# The window under load (issue 11): a 48-bed ward whose numbers change
# every second, streamed by the simulator over SSE into the runtime the app
# hosts. Measures, in the real webview over WebDriver: frame times while
# the overview updates (requestAnimationFrame deltas), the time to open a
# year of one patient's history (20 opens), the bundle's size, and the
# memory of the app and its web processes over time. Asserts nothing.
#   bench/ui/run.sh [SECONDS_OF_MEMORY_WATCH]     (default 120; 3600 for an hour)
# Uses the release app: WARDWATCH_APP, else target/release/wardwatch
# (scripts/package.sh builds it). Needs X (DISPLAY) or starts Xvfb.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
WATCH_S="${1:-120}"
APP="${WARDWATCH_APP:-$ROOT/target/release/wardwatch}"
CTL="$ROOT/target/release/wardwatchctl"
[ -x "$APP" ] && [ -x "$CTL" ] || { echo "bench: build the release app first (scripts/package.sh)" >&2; exit 1; }

WORK=$(mktemp -d)
chmod 700 "$WORK"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
if [ -z "${DISPLAY:-}" ]; then
  Xvfb :171 -screen 0 1600x1000x24 -nolisten tcp >/dev/null 2>&1 & pids+=($!)
  export DISPLAY=:171
  sleep 1
fi
export WARDWATCH_KEY_DIR="$WORK/keys" HOME="$WORK/home"
mkdir -p "$HOME"
DATA="$WORK/data"
PW="$WORK/pw"; echo "night rounds at four" > "$PW"
ctl() { "$CTL" --data-dir "$DATA" --user bench "$@"; }
ctl init --password-stdin < "$PW" >/dev/null
ctl demo export --format csv --count 48 -o "$WORK/ward.csv" >/dev/null
ctl --password-file "$PW" import patients "$WORK/ward.csv" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$CTL" sim --patients 48 --scenario demo --serve-sse "127.0.0.1:$port" >/dev/null 2>&1 & pids+=($!)
ctl --password-file "$PW" sources add sse ward "http://127.0.0.1:$port/streams/vitals" >/dev/null
ctl --password-file "$PW" demo backfill --days 7 --long-days 366 >/dev/null 2>&1 || true
python3 "$ROOT/bench/ui/measure.py" "$APP" "$DATA" "$PW" "$WATCH_S" "$ROOT/ui/dist"
